"""Edit-preserving decoding for text, the counterpart of the photos' detail-preserving rule.

A sentence VAE does not always decode I(x) back to x: a rare word may come back as another, and a
model may read that as a change of meaning. So the candidate of a latent z for hypothesis x is x
with the edit that the latent move makes, G(z0) -> G(z), applied to it: word-level differences
between the two decodes, placed in x where G(z0) lines up with x. At z0 the candidate is x itself
(every pair gets a Δz), and a candidate differs from x only by what G expresses.
"""

from __future__ import annotations

from difflib import SequenceMatcher


def apply_edit(original: str, base: str, decoded: str) -> str:
    """``original`` with the word edits that turn ``base`` into ``decoded`` applied to it."""
    if decoded == base:
        return original
    x, b, d = original.split(), base.split(), decoded.split()
    if b == x:
        return decoded
    where = _boundaries(b, x)
    out: list[str] = []
    at = 0  # next word of x not yet written
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, b, d, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        start, stop = where[i1], where[i2]
        if start < at:  # two edits land on one span of x: the second follows the first
            start = at
        out += x[at:start] + d[j1:j2]
        at = max(at, stop)
    out += x[at:]
    return " ".join(out) if out else decoded


def _boundaries(b: list[str], x: list[str]) -> list[int]:
    """For each boundary 0..len(b) between words of ``b``, the matching boundary in ``x``."""
    where = [0] * (len(b) + 1)
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, b, x, autojunk=False).get_opcodes():
        for i in range(i1, i2 + 1):
            where[i] = j1 + (i - i1) if tag == "equal" else (j1 if i < i2 else j2)
    return where


def changed_words(original: str, candidate: str) -> list[tuple[str, str]]:
    """The candidate as (word, kind) runs for a report: kind is "same", "new" (inserted or
    replacing) — the removed words of the original come as "removed"."""
    a, c = original.split(), candidate.split()
    out: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, c, autojunk=False).get_opcodes():
        if tag == "equal":
            out.append((" ".join(c[j1:j2]), "same"))
            continue
        if i2 > i1:
            out.append((" ".join(a[i1:i2]), "removed"))
        if j2 > j1:
            out.append((" ".join(c[j1:j2]), "new"))
    return out
