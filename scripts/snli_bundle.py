"""Train the snli text generator (sentence VAE) and reference classifier, and write the
bundle generators/snli/ (issue 29).

    .venv/bin/python scripts/snli_splits.py
    .venv/bin/python scripts/snli_bundle.py vae --name A --latent 32 --beta 0.1 --steps 20000
    .venv/bin/python scripts/snli_bundle.py eval-vae --name A
    .venv/bin/python scripts/snli_bundle.py reference
    .venv/bin/python scripts/snli_bundle.py bundle --name A

Every training runs with one torch thread (OMP_NUM_THREADS=1) and checkpoints into
.work/snli/ so an interrupted run resumes when the same command is given again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = ROOT / ".work" / "snli"

from auditor.files import sha256  # noqa: E402
LABELS = ["entailment", "neutral", "contradiction"]


def read_pairs(path: Path) -> list[list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return [l.split("\t") for l in lines if l]


def train_sentences(rows: list[list[str]]) -> list[str]:
    """Premises, hypotheses and the three explanations of TRAIN pairs, deduplicated."""
    out = set()
    for r in rows:
        for s in [r[0], r[1]] + r[3:6]:
            s = s.strip()
            if s:
                out.add(s)
    return sorted(out)


def holdout_hypotheses(rows: list[list[str]]) -> list[str]:
    return sorted({r[1] for r in rows})


def cmd_vae(a) -> None:
    import torch
    from auditor.text.vae import VAEConfig
    from auditor.text.vae_training import train_vae
    torch.set_num_threads(a.threads)
    rows = read_pairs(WORK / "train.tsv")
    sents = train_sentences(rows)
    cfg = VAEConfig(latent_dim=a.latent, beta=a.beta, free_bits=a.free_bits,
                    word_dropout=a.word_dropout, steps=a.steps, anneal_steps=a.anneal,
                    hidden=a.hidden, emb_dim=a.emb, enc_hidden=a.enc_hidden,
                    min_count=a.min_count, batch_size=a.batch, lr=a.lr, seed=a.seed)
    out = WORK / f"vae-{a.name}"
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "config.json"
    if cfg_path.exists() and json.loads(cfg_path.read_text()) != asdict(cfg):
        old = json.loads(cfg_path.read_text())
        if {k: v for k, v in old.items() if k != "steps"} != {k: v for k, v in asdict(cfg).items() if k != "steps"}:
            raise SystemExit(f"{out} holds a run with another config; use another --name")
    cfg_path.write_text(json.dumps(asdict(cfg), indent=1))
    print(f"{len(sents)} training sentences", flush=True)
    gen, state = train_vae(sents, cfg, checkpoint=out / "checkpoint.pt", max_seconds=a.max_seconds,
                           log=lambda m: print(m, flush=True))
    (out / "state.json").write_text(json.dumps({**state, "n_sentences": len(sents)}, indent=1))
    gen.save(out / "gen")
    print(f"saved {out / 'gen'} step {state['step']} done {state['done']}", flush=True)


def cmd_eval_vae(a) -> None:
    import numpy as np
    import torch
    from auditor.text.vae import SentenceCodec
    from auditor.text.vae_quality import decode_speed, neighbourhood, reconstruction
    torch.set_num_threads(a.threads)
    out = WORK / f"vae-{a.name}"
    gen = SentenceCodec.load(out / "gen")  # float16-rounded, as bundled
    hyps = holdout_hypotheses(read_pairs(WORK / "holdout.tsv"))
    rec, outs = reconstruction(gen, hyps)
    rng = np.random.default_rng(0)
    sub = [hyps[i] for i in rng.choice(len(hyps), min(200, len(hyps)), replace=False)]
    nb = neighbourhood(gen, sub)
    z0 = gen.encode(hyps)
    speed = {f"{t}_threads": decode_speed(gen, 1000, threads=t, z0=z0) for t in (1, 2)}
    res = {"reconstruction": rec, "neighbourhood": nb, "neighbourhood_n": len(sub),
           "decodes_per_second": speed, "vocab": len(gen.vocab), "latent_dim": gen.latent_dim}
    print(json.dumps(res, indent=1))
    (out / "eval.json").write_text(json.dumps(res, indent=1))
    for s, o in list(zip(hyps, outs))[:10]:
        print(f"  {s}\n  -> {o}")
    z = z0[:3]
    u = np.random.default_rng(1).standard_normal(z.shape).astype(np.float32)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    for r in (0.5, 1, 2, 4):
        for s, o in zip(hyps[:3], gen.decode(z + r * u)):
            print(f"  r={r}: {s} -> {o}")


def _split_validation(rows, share=0.15, seed=1):
    """Carve a validation part out of TRAIN, by premise (never tune on holdout)."""
    import random
    prem = sorted({r[0] for r in rows})
    random.Random(seed).shuffle(prem)
    val = set(prem[: round(len(prem) * share)])
    return [r for r in rows if r[0] not in val], [r for r in rows if r[0] in val]


REF_CANDIDATES = {
    "lr-uni": dict(architecture="linear", features=("uni", "bins"), epochs=20, lr=0.01, weight_decay=1e-6),
    "lr-uni-bi-new": dict(architecture="linear", features=("uni", "bi", "new", "bins"), epochs=20, lr=0.01,
                          weight_decay=1e-6),
    "lr-all": dict(architecture="linear", features=("uni", "bi", "new", "cross", "bins"), epochs=20, lr=0.01,
                   weight_decay=1e-6),
    "mlp-all": dict(architecture="mlp", hidden=32, features=("uni", "bi", "new", "cross", "bins"), epochs=15,
                    lr=0.003, weight_decay=1e-6, dropout=0.3),
    "mlp-uni-bi-new": dict(architecture="mlp", hidden=32, features=("uni", "bi", "new", "bins"), epochs=15,
                           lr=0.003, weight_decay=1e-6, dropout=0.3),
}


def _acc(ref, rows):
    import numpy as np
    y = np.array([LABELS.index(r[2]) for r in rows])
    pred = ref.predict([(r[0], r[1]) for r in rows])
    per = {c: float((pred[y == i] == i).mean()) for i, c in enumerate(LABELS)}
    return float((pred == y).mean()), per


def cmd_reference(a) -> None:
    import numpy as np
    import torch
    from auditor.text.reference import TextReference, train_reference
    torch.set_num_threads(a.threads)
    rows = read_pairs(WORK / "train.tsv")
    fit, val = _split_validation(rows)
    results = {}
    names = a.candidates.split(",") if a.candidates else list(REF_CANDIDATES)
    for name in names:
        kw = REF_CANDIDATES[name]
        accs = []
        t = time.time()
        for seed in range(a.seeds):
            ref = train_reference([(r[0], r[1]) for r in fit], [LABELS.index(r[2]) for r in fit], seed=seed, **kw)
            accs.append(_acc(ref, val)[0])
        results[name] = {"val_accuracy": float(np.mean(accs)), "val_runs": accs, "config": {k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()},
                         "seconds": time.time() - t}
        print(f"{name}: validation accuracy {np.mean(accs):.4f} {['%.4f' % x for x in accs]} "
              f"({time.time() - t:.0f}s)", flush=True)
    best = max(results, key=lambda k: results[k]["val_accuracy"])
    print(f"chosen by validation: {best}", flush=True)
    t = time.time()
    ref = train_reference([(r[0], r[1]) for r in rows], [LABELS.index(r[2]) for r in rows], seed=0,
                          **REF_CANDIDATES[best])
    seconds = time.time() - t
    out = WORK / "reference"
    ref.save(out)
    ref = TextReference.load(out)  # float16-rounded, as bundled
    hold = read_pairs(WORK / "holdout.tsv")
    acc, per = _acc(ref, hold)
    pairs = [(r[0], r[1]) for r in hold] * 3
    speed = {}
    for th in (1, 2):
        torch.set_num_threads(th)
        t0 = time.perf_counter()
        ref.predict_scores(pairs)
        speed[f"{th}_threads"] = len(pairs) / (time.perf_counter() - t0)
    res = {"candidates": results, "chosen": best, "holdout_accuracy": acc, "per_class": per,
           "n_holdout": len(hold), "n_train": len(rows), "n_fit": len(fit), "n_validation": len(val),
           "pairs_per_second": speed, "train_seconds": seconds, "config": ref.config}
    (out / "eval.json").write_text(json.dumps(res, indent=1))
    print(json.dumps({k: v for k, v in res.items() if k != "candidates"}, indent=1))


def cmd_bundle(a) -> None:
    import shutil
    import numpy as np
    import torch
    from auditor.text.reference import TextReference
    from auditor.text.vae import SentenceCodec
    torch.set_num_threads(a.threads)
    src = WORK / f"vae-{a.name}"
    ev = json.loads((src / "eval.json").read_text())
    cfg = json.loads((src / "config.json").read_text())
    st = json.loads((src / "state.json").read_text())
    rev = json.loads((WORK / "reference" / "eval.json").read_text())
    out = ROOT / "generators" / "snli"
    out.mkdir(parents=True, exist_ok=True)
    for f in ("weights.npz", "vocab.txt"):
        shutil.copyfile(src / "gen" / f, out / f)
    shutil.copyfile(WORK / "reference" / "reference.npz", out / "reference.npz")
    gen = SentenceCodec.load(out)
    ref = TextReference.load(out)
    # does R label the reconstruction as it labels the original? (holdout pairs)
    hold = read_pairs(WORK / "holdout.tsv")
    pairs = [(r[0], r[1]) for r in hold]
    recon = gen.decode(gen.encode([h for _, h in pairs]))
    same = float((ref.predict(pairs) == ref.predict([(p, h2) for (p, _), h2 in zip(pairs, recon)])).mean())
    n_train_pairs = len(read_pairs(WORK / "train.tsv"))
    rec = ev["reconstruction"]
    vae = (f"OMP_NUM_THREADS=1 .venv/bin/python scripts/snli_bundle.py vae --name {a.name} --latent {cfg['latent_dim']} "
           f"--beta {cfg['beta']} --word-dropout {cfg['word_dropout']} --free-bits {cfg['free_bits']} "
           f"--anneal {cfg['anneal_steps']} --steps {cfg['steps']}")
    runs = [x for x in a.runs.split(",") if x] or [""]
    commands = (["python scripts/snli_splits.py".replace("python", ".venv/bin/python")]
                + [vae + (f" --max-seconds {x}" if x else "") + ("   # resumes from the checkpoint" if k else "")
                   for k, x in enumerate(runs)]
                + [f"OMP_NUM_THREADS=1 .venv/bin/python scripts/snli_bundle.py eval-vae --name {a.name}",
                   "OMP_NUM_THREADS=1 .venv/bin/python scripts/snli_bundle.py reference --seeds 1",
                   f"OMP_NUM_THREADS=1 .venv/bin/python scripts/snli_bundle.py bundle --name {a.name}"
                   + (f" --runs {a.runs}" if a.runs else "")])
    manifest = {
        "name": "snli",
        "modality": "text",
        "description": ("sentence VAE (bidirectional GRU encoder, GRU decoder fed z at every step) trained on "
                        f"{st['n_sentences']} SNLI/e-SNLI sentences (premises, hypotheses, explanations) of the "
                        "train split of the SNLI dev pairs; perturb the hypothesis, keep the premise"),
        "latent_dim": gen.latent_dim,
        "family": "sentence-vae-gru",
        "decoding": "edit-preserving", "decoder": "greedy",
        "max_len": gen.max_len,
        "vocab_size": len(gen.vocab),
        "unknown_token": "<unk>",
        "tokenisation": "lower-cased; punctuation split off words; space-separated tokens (as e-SNLI gives SNLI)",
        "class_names": list(LABELS),
        "format_version": 1,
        "files": {f: sha256(out / f) for f in ("weights.npz", "vocab.txt", "reference.npz")},
        "training": {
            "data": "../shared/data/esnli-dev.tsv split by premise (scripts/snli_splits.py): .work/snli/train.tsv",
            "counts": {"train_pairs": n_train_pairs, "holdout_pairs": len(hold),
                       "train_sentences": st["n_sentences"], "vocab": len(gen.vocab)},
            "command": commands[1],
            "commands": commands,
            "config": cfg,
            "steps": st["step"],
            "seconds": round(st["seconds"], 1),
            "threads": 1,
        },
        "quality": {
            "exact_match": rec["exact_match"],
            "exact_match_raw": rec["exact_match_raw"],
            "token_accuracy": rec["token_accuracy"],
            "n_sentences": rec["n_sentences"],
            "evaluated_on": "distinct holdout hypotheses; exact_match against the sentence with out-of-vocabulary "
                            "words as <unk>, exact_match_raw against the sentence itself",
            "z_norm_mean": rec["z_norm_mean"],
            "neighbourhood": {"n_sentences": ev["neighbourhood_n"], "directions": 20, "radii": ev["neighbourhood"]},
            "decodes_per_second": ev["decodes_per_second"],
            "reference_label_kept_by_reconstruction": same,
        },
        "reference_classifier": {
            "architecture": (f"{rev['config']['architecture']} over hashed pair features "
                             f"({', '.join(rev['config']['features'])}); numpy at run time"),
            "class_names": list(LABELS),
            "accuracy": rev["holdout_accuracy"],
            "per_class": rev["per_class"],
            "n_images": rev["n_holdout"],
            "n_pairs": rev["n_holdout"],
            "chosen_by": "validation split carved out of train by premise",
            "candidates": {k: v["val_accuracy"] for k, v in rev["candidates"].items()},
            "pairs_per_second": rev["pairs_per_second"],
            "config": rev["config"],
        },
        "licence": ("SNLI CC BY-SA 4.0 (share-alike: the bundle is a derivative and is shared under CC BY-SA 4.0); "
                    "e-SNLI explanations MIT"),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (out / "README.md").write_text(_readme(manifest))
    size = sum(f.stat().st_size for f in out.iterdir())
    print(f"wrote {out} ({size / 1e6:.2f} MB); R keeps its label on {same:.3f} of reconstructions")


def _readme(m: dict) -> str:
    q, r, t = m["quality"], m["reference_classifier"], m["training"]
    nb = "\n".join(f"| {k} | {v['distinct_of_20']:.1f} | {v['share_differ']:.2f} |"
                    for k, v in q["neighbourhood"]["radii"].items())
    return f"""# snli: sentence VAE + reference classifier (text, issue 29)

A generator G (greedy decoder) and inverter I (posterior mean) for SNLI-style sentences, and a
reference classifier R for (premise, hypothesis) pairs, classes {m['class_names']}.
The scan perturbs the **hypothesis** in z and keeps the premise.

## Data and split
- `esnli-dev.tsv`: the 9,842 SNLI dev pairs with e-SNLI's three explanations each, lower-cased and
  tokenised. Split once by premise (all hypotheses of a premise on one side), seed 0, by
  `scripts/snli_splits.py`: {t['counts']['train_pairs']} train pairs, {t['counts']['holdout_pairs']} holdout pairs.
- G was trained on the {t['counts']['train_sentences']} distinct train-split sentences (premises, hypotheses,
  explanations); R on the train split's labels. All figures below are on the holdout side.

## Architecture
- Sentence VAE (Bowman et al. 2016): embeddings {t['config']['emb_dim']} (tied input/output through a
  projection), bidirectional GRU encoder {t['config']['enc_hidden']} -> mu, log sigma^2 in R^{m['latent_dim']};
  z -> initial hidden state of a GRU decoder ({t['config']['hidden']}) that also sees z at every step. Word dropout
  {t['config']['word_dropout']}, KL weight annealed linearly to beta = {t['config']['beta']} over
  {t['config']['anneal_steps']} steps, free bits {t['config']['free_bits']}. {t['steps']} steps of batch
  {t['config']['batch_size']}, {t['seconds']:.0f} s on one CPU thread.
- Vocabulary: words seen at least {t['config']['min_count']} times ({m['vocab_size']} entries with
  `<pad> <bos> <eos> <unk>`); other words read as `<unk>` and a decode can contain `<unk>`.
- Decoding: greedy, at most {m['max_len']} tokens; weights stored float16, cast to float32 at load.
- R: {r['architecture']}.

## Measured (holdout)
- Reconstruction decode(encode(x)) over {q['n_sentences']} distinct holdout hypotheses: exact match
  {q['exact_match']:.3f} (against the sentence with unknown words as `<unk>`; {q['exact_match_raw']:.3f} against
  the raw sentence), token accuracy {q['token_accuracy']:.3f}.
- R gives the reconstruction the label it gives the original hypothesis on
  {q['reference_label_kept_by_reconstruction']:.3f} of holdout pairs.
- Neighbourhood ({q['neighbourhood']['n_sentences']} hypotheses, 20 random unit directions per radius; prior N(0, I);
  mean ||z0|| = {q['z_norm_mean']:.2f}):

| radius | distinct decodes of 20 | share differing from decode(z0) |
|---|---|---|
{nb}

- Decodes per second (batch of 1,000 latents near encoded hypotheses, CPU): 1 thread
  {q['decodes_per_second']['1_threads']:.0f}, 2 threads {q['decodes_per_second']['2_threads']:.0f}
  (measured on a shared 2-core machine).
- R: holdout accuracy {r['accuracy']:.3f} on {r['n_pairs']} pairs; per class
  {', '.join(f"{k} {v:.3f}" for k, v in r['per_class'].items())}; chosen among
  {', '.join(f"{k} {v:.3f}" for k, v in r['candidates'].items())} (validation accuracy, validation carved out of
  train by premise).

## Rebuild
```
{chr(10).join(t['commands'])}
```
See docs/generator-snli.md for the candidates tried.

## Licences and citations
This bundle is derived from SNLI and e-SNLI.
- SNLI: Samuel R. Bowman, Gabor Angeli, Christopher Potts, Christopher D. Manning. "A large annotated corpus
  for learning natural language inference." EMNLP 2015. CC BY-SA 4.0 — share-alike: this bundle is a
  derivative and is shared under CC BY-SA 4.0.
- e-SNLI: Oana-Maria Camburu, Tim Rocktäschel, Thomas Lukasiewicz, Phil Blunsom. "e-SNLI: Natural Language
  Inference with Natural Language Explanations." NeurIPS 2018. MIT licence.
- Method: Zhengli Zhao, Dheeru Dua, Sameer Singh. "Generating Natural Adversarial Examples." ICLR 2018.
  Sentence VAE: Bowman et al., "Generating Sentences from a Continuous Space", CoNLL 2016.
"""


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("vae")
    v.add_argument("--name", required=True)
    v.add_argument("--latent", type=int, default=32)
    v.add_argument("--beta", type=float, default=0.1)
    v.add_argument("--free-bits", type=float, default=0.0)
    v.add_argument("--word-dropout", type=float, default=0.1)
    v.add_argument("--anneal", type=int, default=2000)
    v.add_argument("--steps", type=int, default=20000)
    v.add_argument("--hidden", type=int, default=256)
    v.add_argument("--emb", type=int, default=128)
    v.add_argument("--enc-hidden", type=int, default=256)
    v.add_argument("--min-count", type=int, default=3)
    v.add_argument("--batch", type=int, default=64)
    v.add_argument("--lr", type=float, default=1e-3)
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--max-seconds", type=float, default=None)
    v.add_argument("--threads", type=int, default=1)
    e = sub.add_parser("eval-vae")
    e.add_argument("--name", required=True)
    e.add_argument("--threads", type=int, default=1)
    r = sub.add_parser("reference")
    r.add_argument("--candidates", default=None, help="comma-separated names (default: all)")
    r.add_argument("--seeds", type=int, default=2)
    r.add_argument("--threads", type=int, default=1)
    b = sub.add_parser("bundle")
    b.add_argument("--name", required=True)
    b.add_argument("--threads", type=int, default=1)
    b.add_argument("--runs", default="", help="the --max-seconds of each vae call, comma-separated (for the record)")
    a = ap.parse_args(argv)
    {"vae": cmd_vae, "eval-vae": cmd_eval_vae, "reference": cmd_reference, "bundle": cmd_bundle}[a.cmd](a)


if __name__ == "__main__":
    main()
