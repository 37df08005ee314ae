"""Training the sentence VAE (vae.py): word dropout, a linearly annealed KL weight, optional
free bits; checkpointed and resumable, stopped by steps or by time."""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .tokens import Vocab
from .vae import SentenceVAE, SentenceCodec, VAEConfig, _enc_batch, _pad


def round_half(model: nn.Module) -> None:
    """Round parameters through float16, as a bundle stores them."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())


def _epoch_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator):
    """Shuffled batches of similar length (pools of 50 batches sorted by length)."""
    idx = rng.permutation(len(lengths))
    pool = batch_size * 50
    batches = []
    for s in range(0, len(idx), pool):
        chunk = idx[s: s + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i: i + batch_size] for i in range(0, len(chunk), batch_size)]
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


# ---- run-time generator --------------------------------------------------------------
class _Run:
    """The model, optimiser and progress of one training, with its checkpoint file."""

    def __init__(self, sentences, cfg: VAEConfig, checkpoint, vocab, log) -> None:
        torch.manual_seed(cfg.seed)
        self.cfg, self.log = cfg, log
        self.vocab = vocab or Vocab.build(sentences, min_count=cfg.min_count)
        data = [self.vocab.encode(s)[: cfg.max_train_len] for s in sentences]
        self.data = [s for s in data if s]
        self.lengths = np.array([len(s) for s in self.data])
        self.model = SentenceVAE(len(self.vocab), cfg.latent_dim, cfg.emb_dim, cfg.hidden,
                                 cfg.enc_hidden)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.state = {"step": 0, "epoch": 0, "batch": 0, "seconds": 0.0, "done": False}
        self.ckpt = Path(checkpoint) if checkpoint else None
        if self.ckpt is not None and self.ckpt.exists():
            self._resume()

    def _resume(self) -> None:
        saved = torch.load(self.ckpt, weights_only=True)
        if saved["vocab"] != self.vocab.words:
            raise ValueError(f"{self.ckpt}: checkpoint vocabulary differs from this data's")
        ignored = ("steps", "checkpoint_every")
        if ({k: v for k, v in saved["config"].items() if k not in ignored}
                != {k: v for k, v in asdict(self.cfg).items() if k not in ignored}):
            raise ValueError(f"{self.ckpt}: checkpoint made with other settings")
        self.model.load_state_dict(saved["model"])
        self.opt.load_state_dict(saved["opt"])
        self.state.update(saved["state"])
        torch.set_rng_state(saved["torch_rng"])
        self.log(f"resumed from {self.ckpt} at step {self.state['step']}")

    def save(self) -> None:
        if self.ckpt is None:
            return
        tmp = self.ckpt.with_suffix(".tmp")
        torch.save({"model": self.model.state_dict(), "opt": self.opt.state_dict(),
                    "state": self.state, "torch_rng": torch.get_rng_state(),
                    "vocab": self.vocab.words, "config": asdict(self.cfg)}, tmp)
        tmp.replace(self.ckpt)

    def step(self, seqs, run: dict) -> float:
        """One optimiser step on a batch of sequences; adds its losses to ``run``; returns the
        KL weight it used."""
        cfg = self.cfg
        tok, lens = _enc_batch(seqs)
        dec_in = _pad([[Vocab.bos] + s for s in seqs])
        target = _pad([s + [Vocab.eos] for s in seqs], value=-100)
        logits, mu, logvar = self.model(tok, lens, dec_in, cfg.word_dropout)
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                              ignore_index=-100, reduction="sum") / len(seqs)
        kl_d = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).mean(0)  # (d,)
        kl = kl_d.sum()
        kl_pen = torch.clamp(kl_d, min=cfg.free_bits).sum() if cfg.free_bits > 0 else kl
        w = cfg.beta * min(1.0, (self.state["step"] + 1) / max(1, cfg.anneal_steps))
        loss = nll + w * kl_pen
        self.opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.opt.step()
        self.state["step"] += 1
        self.state["batch"] += 1
        run["loss"] += loss.item()
        run["nll"] += nll.item() * len(seqs)
        run["kl"] += kl.item() * len(seqs)
        run["n"] += len(seqs)
        run["tok"] += int((target >= 0).sum())
        return w


def _fresh() -> dict:
    return {"loss": 0.0, "nll": 0.0, "kl": 0.0, "n": 0, "tok": 0}


def train_vae(sentences: Sequence[str], cfg: VAEConfig, checkpoint: str | Path | None = None,
              max_seconds: float | None = None, vocab: Vocab | None = None,
              log: Callable[[str], None] = print,
              log_every: int = 200,
              on_step: Callable[[int, dict[str, float]], None] | None = None,
              ) -> tuple[SentenceCodec, dict]:
    """Train (or resume from ``checkpoint``) a sentence VAE on tokenised sentences.

    Stops at ``cfg.steps`` or after ``max_seconds`` of this call (a later call resumes).
    ``on_step(step, losses)`` is called after every step (the running negative log-likelihood
    and KL per sentence since the last log line). Returns the generator and a state dict (step,
    seconds, done, last losses).
    """
    job = _Run(sentences, cfg, checkpoint, vocab, log)
    state, model = job.state, job.model
    t0 = time.time()
    seconds0 = state["seconds"]
    run = _fresh()
    model.train()
    while state["step"] < cfg.steps:
        batches = _epoch_batches(job.lengths, cfg.batch_size,
                                 np.random.default_rng(cfg.seed * 1000 + state["epoch"]))
        while state["batch"] < len(batches) and state["step"] < cfg.steps:
            w = job.step([job.data[i] for i in batches[state["batch"]]], run)
            elapsed = time.time() - t0
            if on_step is not None:
                on_step(state["step"], {"nll": run["nll"] / run["n"], "kl": run["kl"] / run["n"]})
            if state["step"] % log_every == 0:
                log(f"step {state['step']} epoch {state['epoch']} nll/sent "
                    f"{run['nll'] / run['n']:.2f} ppl "
                    f"{math.exp(run['nll'] / max(1, run['tok'])):.2f} kl "
                    f"{run['kl'] / run['n']:.2f} w {w:.3f} {seconds0 + elapsed:.0f}s")
                state["last"] = {"nll_per_sentence": run["nll"] / run["n"],
                                 "kl": run["kl"] / run["n"]}
                run = _fresh()
            if state["step"] % cfg.checkpoint_every == 0:
                state["seconds"] = seconds0 + elapsed
                job.save()
            if max_seconds is not None and elapsed > max_seconds:
                state["seconds"] = seconds0 + elapsed
                job.save()
                log(f"time limit: stopped at step {state['step']}")
                model.eval()
                return SentenceCodec(model, job.vocab), state
        if state["batch"] >= len(batches):
            state["epoch"] += 1
            state["batch"] = 0
    state["seconds"] = seconds0 + (time.time() - t0)
    state["done"] = True
    job.save()
    model.eval()
    return SentenceCodec(model, job.vocab), state
