"""Tokenisation in the form e-SNLI gives SNLI, and a word vocabulary.

The bundled text is lower-cased and tokenised PTB-style: punctuation split off words,
clitics split (``do n't``, ``man 's``), double quotes as ``\u0060\u0060`` / ``''``, hyphens kept
inside words (``t-shirt``). :func:`normalise` turns raw user text into that form and
leaves already tokenised text unchanged.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Sequence

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"',
                         "\u2013": "-", "\u2014": "--"})
# punctuation always split off (hyphen, apostrophe and period handled separately)
_ALWAYS = re.compile(r'([,;:!?()\[\]{}"$%*+=<>#@|~^])')
_NT = re.compile(r"(\w)(n't)\b")
_CLITIC = re.compile(r"(\w)('s|'re|'ve|'ll|'d|'m)(?=\s|$|[.,;:!?)\]'])")
_ABBREV = frozenset(("mr mrs ms dr st mt ft rt jr sr vs etc inc co no ave blvd lt sgt capt "
                     "prof").split())
_ELLIPSIS = re.compile(r"\.\.\.+")
_SPACES = re.compile(r"\s+")


def _split_token(tok: str, last: bool = True) -> list[str]:
    """Split trailing periods/quotes off one whitespace-free chunk."""
    if tok in ("``", "''", "...", "--", "n't", "'s", "'re", "'ve", "'ll", "'d", "'m"):
        return [tok]
    out_tail: list[str] = []
    # a leading apostrophe stays on the word ('hello), as in the e-SNLI text
    head: list[str] = []
    while len(tok) > 1 and (tok.endswith(".") or tok.endswith("'")) and not tok.endswith("..."):
        if tok.endswith("'") and tok.endswith("''"):
            out_tail.insert(0, "''")
            tok = tok[:-2]
            continue
        # keep abbreviations like "a.m." / "u.s." whole; split a final sentence period
        if tok.endswith(".") and re.fullmatch(r"(?:[a-z]\.){2,}", tok):
            break
        if tok.endswith(".."):  # "toy.." stays as written
            break
        if tok.endswith(".") and not last and tok[:-1] in _ABBREV:  # "st. patrick"
            break
        out_tail.insert(0, tok[-1])
        tok = tok[:-1]
    return head + ([tok] if tok else []) + out_tail


_CLITIC_ALONE = re.compile(r"^'(s|re|ve|ll|d|m)$")


def normalise(s: str) -> str:
    """Lower-case and tokenise like e-SNLI's SNLI text; idempotent on tokenised text.

    >>> normalise("A man, smiling!")
    'a man , smiling !'
    >>> normalise("He doesn't like the dog's \\"ball\\".")
    "he does n't like the dog 's `` ball '' ."
    """
    s = s.translate(_QUOTES).lower()
    # double quotes -> `` and '' alternately (opening first)
    if '"' in s:
        parts = s.split('"')
        s = parts[0]
        for i, p in enumerate(parts[1:]):
            s += (" `` " if i % 2 == 0 else " '' ") + p
    s = _ELLIPSIS.sub(" ... ", s)
    s = _ALWAYS.sub(r" \1 ", s)
    s = _NT.sub(r"\1 \2", s)
    s = _CLITIC.sub(r"\1 \2", s)
    toks: list[str] = []
    chunks = s.split()
    for i, chunk in enumerate(chunks):
        toks.extend(_split_token(chunk, last=i == len(chunks) - 1))
    return _SPACES.sub(" ", " ".join(toks)).strip()


class Vocab:
    """Words <-> ids. Ids 0..3 are <pad> <bos> <eos> <unk>; saved as one word a line."""

    def __init__(self, words: Sequence[str]):
        words = list(words)
        if tuple(words[:4]) != SPECIALS:
            words = list(SPECIALS) + [w for w in words if w not in SPECIALS]
        self.words = words
        self.index = {w: i for i, w in enumerate(words)}
        if len(self.index) != len(words):
            raise ValueError("vocabulary has duplicate words")

    pad, bos, eos, unk = 0, 1, 2, 3

    @classmethod
    def build(cls, sentences: Iterable[str], min_count: int = 2,
              max_size: int | None = None) -> "Vocab":
        counts: dict[str, int] = {}
        for s in sentences:
            for w in s.split():
                counts[w] = counts.get(w, 0) + 1
        kept = sorted((w for w, c in counts.items() if c >= min_count and w not in SPECIALS),
                      key=lambda w: (-counts[w], w))
        if max_size is not None:
            kept = kept[: max(0, max_size - len(SPECIALS))]
        return cls(list(SPECIALS) + kept)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, w: str) -> bool:
        return w in self.index

    def encode(self, sentence: str) -> list[int]:
        """Token ids of a tokenised sentence (no <bos>/<eos>); unknown words -> <unk>."""
        return [self.index.get(w, self.unk) for w in sentence.split()]

    def decode(self, ids: Iterable[int]) -> str:
        """Space-joined words; stops at <eos>, drops <pad>/<bos>, keeps <unk> visible."""
        out = []
        for i in ids:
            i = int(i)
            if i == self.eos:
                break
            if i in (self.pad, self.bos):
                continue
            out.append(self.words[i])
        return " ".join(out)

    def map_unknown(self, sentence: str) -> str:
        """The sentence as the vocabulary can express it (unknown words -> <unk>)."""
        return " ".join(w if w in self.index else UNK for w in sentence.split())

    def save(self, path: str | Path) -> None:
        Path(path).write_text("\n".join(self.words) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        words = Path(path).read_text(encoding="utf-8").split("\n")
        if words and words[-1] == "":
            words = words[:-1]
        return cls(words)
