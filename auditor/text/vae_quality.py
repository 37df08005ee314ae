"""How good a sentence VAE is as a generator: reconstruction of held-out sentences, how many
distinct sentences a neighbourhood decodes to, and decodes per second."""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np
import torch

from .vae import SentenceCodec


def reconstruction(gen: SentenceCodec, sentences: Sequence[str]) -> dict:
    """Exact match and token accuracy of decode(encode(x)).

    ``exact_match`` compares with the sentence as the vocabulary can write it (unknown
    words as <unk>); ``exact_match_raw`` with the sentence itself. Token accuracy: tokens
    equal at the same position over the longer of the two lengths.
    """
    z = gen.encode(sentences)
    outs = gen.decode(z)
    ex = ex_raw = 0
    acc = []
    for s, o in zip(sentences, outs):
        ref = gen.vocab.map_unknown(s).split()
        hyp = o.split()
        ex += ref == hyp
        ex_raw += s.split() == hyp
        same = sum(a == b for a, b in zip(ref, hyp))
        acc.append(same / max(len(ref), len(hyp), 1))
    n = len(sentences)
    return {"exact_match": ex / n, "exact_match_raw": ex_raw / n,
            "token_accuracy": float(np.mean(acc)), "n_sentences": n,
            "z_norm_mean": float(np.linalg.norm(z, axis=1).mean())}, outs


def neighbourhood(gen: SentenceCodec, sentences: Sequence[str], radii=(0.5, 1.0, 2.0, 4.0),
                  n_dirs: int = 20, seed: int = 0) -> dict:
    """For each sentence: decode z0 + r*u for n_dirs random unit u at each radius; report the
    mean number of distinct decodes and the share that differ from decode(z0)."""
    rng = np.random.default_rng(seed)
    z0 = gen.encode(sentences)
    base = gen.decode(z0)
    d = gen.latent_dim
    out = {}
    for r in radii:
        u = rng.standard_normal((len(sentences), n_dirs, d)).astype(np.float32)
        u /= np.linalg.norm(u, axis=2, keepdims=True)
        zs = (z0[:, None, :] + r * u).reshape(-1, d)
        dec = gen.decode(zs)
        distinct, differ = [], []
        for i in range(len(sentences)):
            ds = dec[i * n_dirs: (i + 1) * n_dirs]
            distinct.append(len(set(ds)))
            differ.append(np.mean([x != base[i] for x in ds]))
        out[str(r)] = {"distinct_of_%d" % n_dirs: float(np.mean(distinct)),
                       "share_differ": float(np.mean(differ))}
    return out


def decode_speed(gen: SentenceCodec, n: int = 1000, threads: int | None = None,
                 repeats: int = 3, seed: int = 0, z0: np.ndarray | None = None) -> float:
    """Decodes per second for a batch of n latents (around encoded sentences if z0 given,
    else from the prior), best of ``repeats``."""
    rng = np.random.default_rng(seed)
    if z0 is not None:
        base = z0[rng.integers(0, len(z0), n)]
        u = rng.standard_normal(base.shape).astype(np.float32)
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        z = base + rng.uniform(0, 2, (n, 1)).astype(np.float32) * u
    else:
        z = rng.standard_normal((n, gen.latent_dim)).astype(np.float32)
    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        gen.decode(z[:50])
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            gen.decode(z)
            best = min(best, time.perf_counter() - t)
    finally:
        torch.set_num_threads(old)
    return n / best
