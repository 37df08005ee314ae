"""A sentence VAE (Bowman et al. 2016) as the text generator G and inverter I.

GRU encoder (bidirectional) -> posterior mean mu and log-variance; z -> the initial hidden
state of a GRU decoder that also sees z at every step. Trained with word dropout on the
decoder's inputs, a linearly annealed KL weight (beta < 1) and optional free bits, so the
latent carries the sentence. Input and output embeddings are tied through a projection.

Run time: :class:`TextGenerator` — ``encode`` gives the posterior mean (I(x)), ``decode`` is
greedy, deterministic and batched (finished rows leave the batch, so a batch costs about
its mean length, not its longest). Bundles are plain arrays: ``weights.npz`` (float16,
loaded with ``allow_pickle=False`` and cast to float32) and ``vocab.txt``.

Torch threads are the caller's: set ``torch.set_num_threads`` before decoding.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .tokens import Vocab

MAX_LEN = 40


@dataclass
class VAEConfig:
    latent_dim: int = 32
    emb_dim: int = 128
    hidden: int = 256
    enc_hidden: int = 256
    beta: float = 0.1  # final KL weight
    anneal_steps: int = 2000  # KL weight rises linearly from 0 to beta
    free_bits: float = 0.0  # nats per latent dimension below which KL is not penalised
    word_dropout: float = 0.1
    lr: float = 1e-3
    batch_size: int = 64
    steps: int = 20000
    seed: int = 0
    max_train_len: int = 40
    min_count: int = 3
    checkpoint_every: int = 500
    extra: dict = field(default_factory=dict)


class SentenceVAE(nn.Module):
    def __init__(self, vocab_size: int, latent_dim: int = 32, emb_dim: int = 128,
                 hidden: int = 256, enc_hidden: int = 256):
        super().__init__()
        self.vocab_size, self.latent_dim = vocab_size, latent_dim
        self.emb_dim, self.hidden, self.enc_hidden = emb_dim, hidden, enc_hidden
        self.emb = nn.Embedding(vocab_size, emb_dim, padding_idx=0)
        self.enc = nn.GRU(emb_dim, enc_hidden, batch_first=True, bidirectional=True)
        self.to_mu = nn.Linear(2 * enc_hidden, latent_dim)
        self.to_logvar = nn.Linear(2 * enc_hidden, latent_dim)
        self.z_to_h = nn.Linear(latent_dim, hidden)
        self.dec = nn.GRU(emb_dim + latent_dim, hidden, batch_first=True)
        self.out_proj = nn.Linear(hidden, emb_dim)
        self.out_bias = nn.Parameter(torch.zeros(vocab_size))
        nn.init.normal_(self.emb.weight, std=0.1)
        with torch.no_grad():
            self.emb.weight[0].zero_()

    # ---- encoder -------------------------------------------------------------
    def encode(self, tokens: torch.Tensor, lengths: torch.Tensor):
        """tokens (B, T) without <bos>/<eos>, lengths (B,) >= 1 -> mu, logvar (B, d)."""
        x = self.emb(tokens)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        _, h = self.enc(packed)  # (2, B, H)
        h = torch.cat([h[0], h[1]], dim=1)
        return self.to_mu(h), self.to_logvar(h)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        return self.out_proj(h) @ self.emb.weight.t() + self.out_bias

    def forward(self, tokens, lengths, dec_in, word_dropout: float = 0.0):
        mu, logvar = self.encode(tokens, lengths)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        if word_dropout > 0:
            drop = (torch.rand(dec_in.shape) < word_dropout) & (dec_in > Vocab.bos)
            dec_in = dec_in.masked_fill(drop, Vocab.unk)
        e = self.emb(dec_in)
        zz = z.unsqueeze(1).expand(-1, e.shape[1], -1)
        h0 = torch.tanh(self.z_to_h(z)).unsqueeze(0)
        out, _ = self.dec(torch.cat([e, zz], dim=2), h0)
        return self.logits(out), mu, logvar


# ---- batching ----------------------------------------------------------------------
def _pad(seqs: Sequence[Sequence[int]], value: int = 0) -> torch.Tensor:
    T = max(1, max(len(s) for s in seqs))
    out = torch.full((len(seqs), T), value, dtype=torch.long)
    for i, s in enumerate(seqs):
        if len(s):
            out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out


def _enc_batch(seqs: Sequence[Sequence[int]]):
    seqs = [list(s) if len(s) else [Vocab.unk] for s in seqs]
    return _pad(seqs), torch.tensor([len(s) for s in seqs], dtype=torch.long)


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
class TextGenerator:
    """G (decode, greedy) and I (encode, posterior mean) of a sentence VAE."""

    family = "sentence-vae-gru"

    def __init__(self, model: SentenceVAE, vocab: Vocab, max_len: int = MAX_LEN):
        self.model = model.eval()
        self.vocab = vocab
        self.max_len = int(max_len)
        self._tables: dict | None = None

    @property
    def latent_dim(self) -> int:
        return self.model.latent_dim

    # encode ---------------------------------------------------------------------
    def encode(self, sentences: Sequence[str], batch_size: int = 512) -> np.ndarray:
        """Posterior means (N, d) float32 of tokenised sentences (unknown words -> <unk>)."""
        out = np.zeros((len(sentences), self.latent_dim), np.float32)
        ids = [self.vocab.encode(s)[: self.max_len] for s in sentences]
        with torch.no_grad():
            for s in range(0, len(ids), batch_size):
                tok, lens = _enc_batch(ids[s: s + batch_size])
                mu, _ = self.model.encode(tok, lens)
                out[s: s + len(lens)] = mu.numpy()
        return out

    # decode ---------------------------------------------------------------------
    def _prepare(self) -> dict:
        if self._tables is None:
            m = self.model
            with torch.no_grad():
                E, d, H = m.emb_dim, m.latent_dim, m.hidden
                w_ih = m.dec.weight_ih_l0  # (3H, E + d)
                self._tables = {
                    "emb_gi": (m.emb.weight @ w_ih[:, :E].t()).contiguous(),  # (V, 3H)
                    "w_iz": w_ih[:, E:].t().contiguous(),  # (d, 3H)
                    "b_ih": m.dec.bias_ih_l0.clone(),
                    "w_hh": m.dec.weight_hh_l0.t().contiguous(),  # (H, 3H)
                    "b_hh": m.dec.bias_hh_l0.clone(),
                    "w_zh": m.z_to_h.weight.t().contiguous(), "b_zh": m.z_to_h.bias.clone(),
                    "w_out": m.out_proj.weight.t().contiguous(), "b_out": m.out_proj.bias.clone(),
                    "emb_t": m.emb.weight.t().contiguous(), "bias": m.out_bias.clone(),
                    "H": H,
                }
        return self._tables

    def decode_ids(self, z: np.ndarray, batch_size: int = 1000) -> list[list[int]]:
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"decode expects latents of shape (N, {self.latent_dim}), got {z.shape}")
        out: list[list[int]] = []
        for s in range(0, len(z), batch_size):
            out += self._decode_batch(torch.from_numpy(z[s: s + batch_size]))
        return out

    def _decode_batch(self, z: torch.Tensor) -> list[list[int]]:
        t = self._prepare()
        H = t["H"]
        n = z.shape[0]
        result: list[list[int]] = [[] for _ in range(n)]
        with torch.no_grad():
            h = torch.tanh(torch.addmm(t["b_zh"], z, t["w_zh"]))
            zc = torch.addmm(t["b_ih"], z, t["w_iz"])  # z's part of the input gates
            tok = torch.full((n,), Vocab.bos, dtype=torch.long)
            alive = torch.arange(n)
            for _ in range(self.max_len):
                gi = t["emb_gi"].index_select(0, tok) + zc
                gh = torch.addmm(t["b_hh"], h, t["w_hh"])
                r = torch.sigmoid(gi[:, :H] + gh[:, :H])
                u = torch.sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
                c = torch.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
                h = c + u * (h - c)
                logits = torch.addmm(t["bias"], torch.addmm(t["b_out"], h, t["w_out"]), t["emb_t"])
                tok = logits.argmax(dim=1)
                toks = tok.tolist()
                rows = alive.tolist()
                keep = []
                for j, (row, w) in enumerate(zip(rows, toks)):
                    if w == Vocab.eos:
                        continue
                    result[row].append(w)
                    keep.append(j)
                if not keep:
                    break
                if len(keep) < len(rows):
                    k = torch.tensor(keep, dtype=torch.long)
                    alive, tok, h, zc = alive[k], tok[k], h[k], zc[k]
        return result

    def decode(self, z: np.ndarray, batch_size: int = 1000) -> list[str]:
        """Greedy decodes of latents (N, d): space-joined tokens, no specials except <unk>."""
        return [self.vocab.decode(ids) for ids in self.decode_ids(z, batch_size)]

    # save / load ----------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        arrays = {k: v.detach().cpu().numpy().astype(np.float16)
                  for k, v in self.model.state_dict().items()}
        arrays["max_len"] = np.array(self.max_len, dtype=np.int64)
        np.savez(d / "weights.npz", **arrays)
        self.vocab.save(d / "vocab.txt")

    @classmethod
    def load(cls, directory: str | Path) -> "TextGenerator":
        d = Path(directory)
        vocab = Vocab.load(d / "vocab.txt")
        with np.load(d / "weights.npz", allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        max_len = int(arrays.pop("max_len", MAX_LEN))
        V, E = arrays["emb.weight"].shape
        d_lat = arrays["to_mu.weight"].shape[0]
        H = arrays["z_to_h.weight"].shape[0]
        He = arrays["enc.weight_hh_l0"].shape[1]
        if V != len(vocab):
            raise ValueError(f"{d}: vocab.txt has {len(vocab)} words, weights expect {V}")
        model = SentenceVAE(V, d_lat, E, H, He)
        model.load_state_dict({k: torch.from_numpy(v.astype(np.float32)) for k, v in arrays.items()})
        return cls(model, vocab, max_len)


# ---- training ----------------------------------------------------------------------
def round_half(model: nn.Module) -> None:
    """Round parameters through float16, as a bundle stores them."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())


def train_vae(sentences: Sequence[str], cfg: VAEConfig, checkpoint: str | Path | None = None,
              max_seconds: float | None = None, vocab: Vocab | None = None,
              log: Callable[[str], None] = print, log_every: int = 200) -> tuple[TextGenerator, dict]:
    """Train (or resume from ``checkpoint``) a sentence VAE on tokenised sentences.

    Stops at ``cfg.steps`` or after ``max_seconds`` of this call (a later call resumes).
    Returns the generator and a state dict (step, seconds, done, last losses).
    """
    torch.manual_seed(cfg.seed)
    vocab = vocab or Vocab.build(sentences, min_count=cfg.min_count)
    data = [vocab.encode(s)[: cfg.max_train_len] for s in sentences]
    data = [s for s in data if s]
    lengths = np.array([len(s) for s in data])
    model = SentenceVAE(len(vocab), cfg.latent_dim, cfg.emb_dim, cfg.hidden, cfg.enc_hidden)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    state = {"step": 0, "epoch": 0, "batch": 0, "seconds": 0.0, "done": False}
    ckpt = Path(checkpoint) if checkpoint else None
    if ckpt is not None and ckpt.exists():
        saved = torch.load(ckpt, weights_only=False)
        if saved["vocab"] != vocab.words:
            raise ValueError(f"{ckpt}: checkpoint vocabulary differs from this data's")
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        state.update(saved["state"])
        torch.set_rng_state(saved["torch_rng"])
        log(f"resumed from {ckpt} at step {state['step']}")

    def save_ckpt() -> None:
        if ckpt is None:
            return
        tmp = ckpt.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state,
                    "torch_rng": torch.get_rng_state(), "vocab": vocab.words,
                    "config": asdict(cfg)}, tmp)
        tmp.replace(ckpt)

    t0 = time.time()
    seconds0 = state["seconds"]
    run = {"loss": 0.0, "nll": 0.0, "kl": 0.0, "n": 0, "tok": 0}
    model.train()
    while state["step"] < cfg.steps:
        batches = _epoch_batches(lengths, cfg.batch_size,
                                 np.random.default_rng(cfg.seed * 1000 + state["epoch"]))
        while state["batch"] < len(batches) and state["step"] < cfg.steps:
            b = batches[state["batch"]]
            seqs = [data[i] for i in b]
            tok, lens = _enc_batch(seqs)
            dec_in = _pad([[Vocab.bos] + s for s in seqs])
            target = _pad([s + [Vocab.eos] for s in seqs], value=-100)
            logits, mu, logvar = model(tok, lens, dec_in, cfg.word_dropout)
            nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                  ignore_index=-100, reduction="sum") / len(seqs)
            kl_d = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).mean(0)  # (d,)
            kl = kl_d.sum()
            kl_pen = torch.clamp(kl_d, min=cfg.free_bits).sum() if cfg.free_bits > 0 else kl
            w = cfg.beta * min(1.0, (state["step"] + 1) / max(1, cfg.anneal_steps))
            loss = nll + w * kl_pen
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            state["step"] += 1
            state["batch"] += 1
            run["loss"] += loss.item(); run["nll"] += nll.item() * len(seqs)
            run["kl"] += kl.item() * len(seqs); run["n"] += len(seqs)
            run["tok"] += int((target >= 0).sum())
            elapsed = time.time() - t0
            if state["step"] % log_every == 0:
                log(f"step {state['step']} epoch {state['epoch']} nll/sent {run['nll'] / run['n']:.2f} "
                    f"ppl {math.exp(run['nll'] / max(1, run['tok'])):.2f} kl {run['kl'] / run['n']:.2f} "
                    f"w {w:.3f} {seconds0 + elapsed:.0f}s")
                state["last"] = {"nll_per_sentence": run["nll"] / run["n"], "kl": run["kl"] / run["n"]}
                run = {"loss": 0.0, "nll": 0.0, "kl": 0.0, "n": 0, "tok": 0}
            if state["step"] % cfg.checkpoint_every == 0:
                state["seconds"] = seconds0 + elapsed
                save_ckpt()
            if max_seconds is not None and elapsed > max_seconds:
                state["seconds"] = seconds0 + elapsed
                save_ckpt()
                log(f"time limit: stopped at step {state['step']}")
                model.eval()
                return TextGenerator(model, vocab), state
        if state["batch"] >= len(batches):
            state["epoch"] += 1
            state["batch"] = 0
    state["seconds"] = seconds0 + (time.time() - t0)
    state["done"] = True
    save_ckpt()
    model.eval()
    return TextGenerator(model, vocab), state


# ---- evaluation ----------------------------------------------------------------------
def reconstruction(gen: TextGenerator, sentences: Sequence[str]) -> dict:
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


def neighbourhood(gen: TextGenerator, sentences: Sequence[str], radii=(0.5, 1.0, 2.0, 4.0),
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


def decode_speed(gen: TextGenerator, n: int = 1000, threads: int | None = None,
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


def config_json(cfg: VAEConfig) -> str:
    return json.dumps(asdict(cfg), sort_keys=True)
