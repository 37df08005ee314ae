"""Text inputs of a scan: sentences, or (premise, hypothesis) pairs, read from `.txt` (one
sentence per line), `.tsv` (a header naming `premise` and `hypothesis`, or `sentence`; SNLI's own
`sentence1`/`sentence2` are read as premise/hypothesis) or `.jsonl` (objects with those fields)
files, a folder of them, or Python lists. A `label` (or SNLI's `gold_label`) field is read for
validation and training only; a scan never needs it. Every text is normalised as the bundle's
data is (lower-cased, punctuation split off words: :func:`auditor.text.tokens.normalise`).
Bad input raises :class:`~auditor.errors.DataError` with one line that names the file and line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError

SUFFIXES = (".txt", ".tsv", ".jsonl")
SNLI_LABELS = ("entailment", "neutral", "contradiction")
LABEL_FIELDS = ("label", "gold_label")
NAMED = {"sentence1": "premise", "sentence2": "hypothesis"}
RULE = ("lower-cased, punctuation split off words, space-separated tokens (as e-SNLI gives SNLI); "
        "texts already in that form are kept as they are")


@dataclass
class TextSet:
    """N texts: ``items`` is (N,) of sentences or (N, 2) of [premise, hypothesis] (object
    arrays)."""

    items: np.ndarray
    names: list[str]
    pairs: bool
    labels: np.ndarray | None = None
    n_normalised: int = 0  # texts that normalisation changed
    skipped: list = field(default_factory=list)  # (kept empty: bad text is refused, not skipped)
    ignored: list = field(default_factory=list)
    rule = RULE  # the one normalisation every text went through (domains.base.InputSet)

    @property
    def kind(self) -> str:
        return "premise-hypothesis pairs" if self.pairs else "sentences"

    @property
    def one(self) -> str:  # one input, in a word
        return "pair" if self.pairs else "sentence"

    def identity(self) -> bytes:
        return hashable(self.items)


def is_text(source) -> bool:
    """Whether a scan's input is text: a .txt/.tsv/.jsonl file, a folder holding such files and no
    images, or a list of strings or of (premise, hypothesis) pairs."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_file():
            return path.suffix.lower() in SUFFIXES
        if path.is_dir():
            files = [p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")]
            return bool(files) and all(p.suffix.lower() in SUFFIXES for p in files)
        return path.suffix.lower() in SUFFIXES
    if isinstance(source, (list, tuple)) and source:
        first = source[0]
        return isinstance(first, str) or (isinstance(first, (list, tuple)) and len(first) == 2
                                          and all(isinstance(s, str) for s in first))
    return False


def load_text(source, limit: int | None = None) -> TextSet:
    """Read and normalise the texts of ``source`` (a path or a list)."""
    if isinstance(source, (list, tuple)):
        rows = [_row_from_python(v, i) for i, v in enumerate(source)]
        names = [f"item {i}" for i in range(len(rows))]
        labels = None
        pairs = _one_kind(rows, "the list")
    else:
        rows, names, raw, pairs = _read_path(Path(source))
        labels = _label_ids(raw)
    if limit is not None:
        rows, names = rows[:limit], names[:limit]
        labels = labels[:limit] if labels is not None else None
    return _normalised(rows, names, labels, pairs)


def load_labelled(path, column: str | None = None) -> tuple[TextSet, list[str] | None]:
    """The texts of ``path`` and their labels as written (None without a label field): those of
    ``column``, or by default of a ``label`` or ``gold_label`` field. A named column that is
    missing is refused."""
    fields = (column,) if column else LABEL_FIELDS
    rows, names, raw, pairs = _read_path(Path(path), fields)
    if column and all(v is None for v in raw):
        raise DataError(f"{path}: no {column!r} column or field; name the labels' column with "
                        "--labels COLUMN, or pass --labels none")
    labels = None if all(v is None for v in raw) else [str(v or "").strip() for v in raw]
    return _normalised(rows, names, None, pairs), labels


def _normalised(rows: list, names: list[str], labels, pairs: bool) -> TextSet:
    from .tokens import normalise

    normalised = [tuple(normalise(s) for s in row) for row in rows]
    for row, name in zip(normalised, names):
        if any(not s for s in row):
            raise DataError(f"{name}: a text is empty once normalised; remove the line or give it "
                            "words")
    changed = sum(a != b for a, b in zip(rows, normalised))
    items = np.empty((len(rows), 2) if pairs else (len(rows),), dtype=object)
    for i, row in enumerate(normalised):
        items[i] = row if pairs else row[0]
    return TextSet(items=items, names=names, pairs=pairs, labels=labels, n_normalised=changed)


def _row_from_python(value, i: int) -> tuple[str, ...]:
    if isinstance(value, str):
        row = (value,)
    elif (isinstance(value, (list, tuple)) and len(value) == 2
          and all(isinstance(s, str) for s in value)):
        row = tuple(value)
    else:
        raise DataError(f"item {i} of the list is a {type(value).__name__}: give strings or "
                        "(premise, hypothesis) pairs")
    _check_row(row, f"item {i} of the list",
               ("premise", "hypothesis") if len(row) == 2 else ("sentence",))
    return row


def _one_kind(rows: list[tuple[str, ...]], where: str) -> bool:
    kinds = {len(r) for r in rows}
    if not rows:
        raise DataError(f"{where} holds no text; give one sentence or pair per line")
    if len(kinds) > 1:
        raise DataError(f"{where} mixes single sentences and pairs; scan them separately")
    return kinds == {2}


def _read_path(path: Path, label_fields: tuple[str, ...] = LABEL_FIELDS
               ) -> tuple[list, list[str], list, bool]:
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    files = ([path] if path.is_file()
             else sorted(p for p in path.rglob("*") if p.is_file()
                         and p.suffix.lower() in SUFFIXES))
    if not files:
        raise DataError(f"{path}: no .txt, .tsv or .jsonl file in it")
    rows, names, labels = [], [], []
    for f in files:
        rel = f.name if f == path else str(f.relative_to(path))
        r, n, lab = _read_file(f, rel, label_fields)
        rows += r
        names += n
        labels += lab
    pairs = _one_kind(rows, str(path))
    return rows, names, labels, pairs


def _read_file(path: Path, rel: str, label_fields: tuple[str, ...]) -> tuple[list, list[str], list]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{rel}: not UTF-8 text (bad byte at offset {err.start}); save it as "
                        "UTF-8") from None
    except OSError as err:
        raise DataError(f"{rel}: cannot be read ({err.strerror})") from None
    lines = text.splitlines()
    suffix = path.suffix.lower()
    if not any(line.strip() for line in lines):
        raise DataError(f"{rel}: the file is empty; give one sentence or pair per line")
    if suffix == ".txt":
        out = [((line.strip(),), f"{rel}:{i + 1}", None) for i, line in enumerate(lines)
               if line.strip()]
    elif suffix == ".tsv":
        out = _read_tsv(lines, rel, label_fields)
    else:
        out = _read_jsonl(lines, rel, label_fields)
    if not out:
        raise DataError(f"{rel}: a header but no rows; give one sentence or pair per line")
    return [o[0] for o in out], [o[1] for o in out], [o[2] for o in out]


def _fields(columns: list[str], rel: str) -> tuple[str, ...]:
    if ("sentence1" in columns and "sentence2" in columns
            and "premise" not in columns and "hypothesis" not in columns):
        return ("sentence1", "sentence2")  # SNLI's and MultiNLI's own names for them
    if "premise" in columns or "hypothesis" in columns:
        missing = [c for c in ("premise", "hypothesis") if c not in columns]
        if missing:
            raise DataError(f"{rel}: a pair file needs both a premise and a hypothesis field; "
                            f"{missing[0]} is missing")
        return ("premise", "hypothesis")
    if "sentence" in columns:
        return ("sentence",)
    raise DataError(f"{rel}: no premise/hypothesis or sentence field (found: "
                    f"{', '.join(columns) or 'none'}); name the columns in a header line")


def _read_tsv(lines: list[str], rel: str, label_fields: tuple[str, ...]) -> list:
    header = [c.strip().lower() for c in lines[0].split("\t")]
    wanted = _fields(header, rel)
    index = [header.index(c) for c in wanted]
    at_label = next((header.index(c.lower()) for c in label_fields if c.lower() in header), None)
    out = []
    for i, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) < len(header):
            raise DataError(f"{rel}:{i}: {len(cells)} tab-separated fields where the header has "
                            f"{len(header)}")
        row = tuple(cells[k].strip() for k in index)
        _check_row(row, f"{rel}:{i}", wanted)
        out.append((row, f"{rel}:{i}", cells[at_label].strip() if at_label is not None else None))
    return out


def _read_jsonl(lines: list[str], rel: str, label_fields: tuple[str, ...]) -> list:
    out, wanted = [], None
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as err:
            raise DataError(f"{rel}:{i}: not a JSON object ({err.msg}); give one object per "
                            "line") from None
        if not isinstance(obj, dict):
            raise DataError(f"{rel}:{i}: not a JSON object; give one object per line")
        fields = _fields(list(obj), f"{rel}:{i}")
        if wanted is not None and fields != wanted:
            raise DataError(f"{rel}:{i}: mixes single sentences and pairs; scan them separately")
        wanted = fields
        row = tuple(obj[k] if isinstance(obj[k], str) else "" for k in fields)
        _check_row(row, f"{rel}:{i}", fields)
        label = next((obj[c] for c in label_fields if c in obj), None)
        out.append((row, f"{rel}:{i}", None if label is None else str(label)))
    return out


def _check_row(row: tuple[str, ...], where: str, fields: tuple[str, ...]) -> None:
    for value, name in zip(row, fields):
        name = NAMED.get(name, name)
        if not value.strip():
            every = " and ".join(NAMED.get(f, f) for f in fields)
            raise DataError(f"{where}: empty {name}; every {every} needs words")


def _label_ids(labels: list) -> np.ndarray | None:
    """SNLI's names or their ids (0 entailment, 1 neutral, 2 contradiction) -> ids; None unless
    every text has one. A scan never reads labels, so one it cannot read (SNLI's "-" or -1 for
    pairs without a gold label) is not an error: the texts are simply unlabelled."""
    out = np.empty(len(labels), dtype=np.int64)
    for i, value in enumerate(labels):
        v = str(value).strip().lower()
        if v in SNLI_LABELS:
            out[i] = SNLI_LABELS.index(v)
        elif v.isdigit() and int(v) < len(SNLI_LABELS):
            out[i] = int(v)
        else:
            return None
    return out if len(out) else None


def hashable(items: np.ndarray) -> bytes:
    """The texts as bytes, for the scan's key (an object array's own bytes are pointers)."""
    return "\x1e".join("\x1f".join(r) if isinstance(r, (tuple, list, np.ndarray)) else r
                       for r in items.tolist()).encode()
