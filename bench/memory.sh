#!/usr/bin/env bash
# Peak memory of a scan of 1,000 and 10,000 images (issue #6) at default settings: the scan
# searches images in batches, so its peak should stay flat as the image count grows.
# 10,000 digits = the 5,000 MNIST digits and copies shifted by one pixel. Run from the repo root:
#     bash bench/memory.sh
set -euo pipefail
mkdir -p .work/memory
python - <<'PY'
import sys
import numpy as np
sys.path.insert(0, "scripts")
from mnist_splits import mnist_splits
xtr, _, xte, _ = mnist_splits()
x = np.concatenate([xtr, xte])
np.save(".work/memory/digits10k.npy", np.concatenate([x, np.roll(x, 1, axis=2)]))
PY
for n in 1000 10000; do
  /usr/bin/time -v auditor scan examples/models/mlp.pt .work/memory/digits10k.npy --limit $n \
      --out .work/memory/out$n --force --gallery 6 2> .work/memory/time$n.txt > /dev/null
  echo "$n images: peak RSS $(grep 'Maximum resident' .work/memory/time$n.txt | awk '{print $NF}') kB," \
       "wall $(grep 'Elapsed (wall' .work/memory/time$n.txt | awk '{print $NF}')"
done
