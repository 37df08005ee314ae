"""The gradient search beside margin's black box (auditor/search/gradient.py) on TorchScript
networks of the photo zoo (bench/cifar10_zoo.py, in .work/cifar10/zoo) and the examples' 60
held-out photos: per model the median gap to the best of three runs (auto: gradients and margin
at half the steps; margin alone at 46 steps; margin 16 x 200), its gap of means, queries per photo
and photos censored where another run found an adversary.

    python bench/search_gradient.py resnet8,vgg-aug,cnn-epoch8,mlp512
"""
import sys, time
from pathlib import Path
import numpy as np
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench")); sys.path.insert(0, str(ROOT / "scripts"))
import search_gap
from auditor.models import load_classifier
from auditor.search import SearchSettings, search
gen, _, images = search_gap.domain("cifar10", 6)
names = sys.argv[1].split(",")
clfs = [load_classifier(ROOT / ".work/cifar10/zoo" / f"{n}.pt", n, gen.image_shape) for n in names]
runs = {}
for spec, st in (("auto", SearchSettings()), ("margin", SearchSettings(algorithm="margin", max_steps=46)),
                 ("margin16x200", SearchSettings(algorithm="margin", samples=16, max_steps=200))):
    t = time.time(); out = search(gen, clfs, images, st); runs[spec] = out
    print(spec, f"{time.time()-t:.0f} s", flush=True)
for n in names:
    s = np.stack([runs[k].results[n].delta_z for k in runs]); best = np.nanmin(s, 0)
    row = []
    for k in runs:
        d = runs[k].results[n].delta_z; ok = np.isfinite(d) & np.isfinite(best) & (best > 0)
        row.append(f"{k} {100*np.median(d[ok]/best[ok]-1):+.1f}% (mean {100*(d[ok].mean()/best[ok].mean()-1):+.1f}%) q{runs[k].results[n].queries.mean():.0f} lost{int((np.isnan(d)&np.isfinite(best)).sum())}")
    print(n, " | ".join(row))
