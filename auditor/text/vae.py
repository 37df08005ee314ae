"""A sentence VAE (Bowman et al. 2016) as the text generator G and inverter I.

GRU encoder (bidirectional) -> posterior mean mu and log-variance; z -> the initial hidden
state of a GRU decoder that also sees z at every step. Trained with word dropout on the
decoder's inputs, a linearly annealed KL weight (beta < 1) and optional free bits, so the
latent carries the sentence. Input and output embeddings are tied through a projection.

Run time: :class:`SentenceCodec` — ``encode`` gives the posterior mean (I(x)), ``decode`` is
greedy, deterministic and batched (finished rows leave the batch, so a batch costs about
its mean length, not its longest). Bundles are plain arrays: ``weights.npz`` (float16,
loaded with ``allow_pickle=False`` and cast to float32) and ``vocab.txt``.

Torch threads are the caller's: set ``torch.set_num_threads`` before decoding.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

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


class SentenceCodec:
    """G (decode, greedy) and I (encode, posterior mean) of a trained :class:`SentenceVAE`, with
    its vocabulary: the network half of a text bundle (the scan's ``Generator`` is
    ``text.bundle.TextBundle``, which wraps it)."""

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

    def token_nll(self, sentences: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """(N,) each sentence's mean negative log-likelihood per token (its <eos> included) under
        the decoder given its own code I(x): the reconstruction term of the evidence bound."""
        m = self.model
        out = np.zeros(len(sentences), np.float64)
        ids = [self.vocab.encode(s)[: self.max_len] for s in sentences]
        with torch.no_grad():
            for s in range(0, len(ids), batch_size):
                chunk = ids[s: s + batch_size]
                tok, lens = _enc_batch(chunk)
                mu, _ = m.encode(tok, lens)  # (B, d)
                dec_in = _pad([[Vocab.bos, *c] for c in chunk])  # (B, T)
                target = _pad([[*c, Vocab.eos] for c in chunk])  # (B, T), <pad> = 0 after it
                e = m.emb(dec_in)
                zz = mu.unsqueeze(1).expand(-1, e.shape[1], -1)
                h, _ = m.dec(torch.cat([e, zz], dim=2), torch.tanh(m.z_to_h(mu)).unsqueeze(0))
                logp = torch.log_softmax(m.logits(h), dim=-1)
                nll = -logp.gather(2, target.unsqueeze(2)).squeeze(2)
                mask = (target != Vocab.pad).float()
                out[s: s + len(chunk)] = ((nll * mask).sum(1) / mask.sum(1)).numpy()
        return out

    # decode ---------------------------------------------------------------------
    def _prepare(self) -> dict:
        if self._tables is None:
            m = self.model
            with torch.no_grad():
                E, H = m.emb_dim, m.hidden
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
            raise ValueError(f"decode expects latents of shape (N, {self.latent_dim}), got "
                             f"{z.shape}")
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
    def load(cls, directory: str | Path) -> "SentenceCodec":
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
        model.load_state_dict({k: torch.from_numpy(v.astype(np.float32))
                               for k, v in arrays.items()})
        return cls(model, vocab, max_len)


def config_json(cfg: VAEConfig) -> str:
    return json.dumps(asdict(cfg), sort_keys=True)
