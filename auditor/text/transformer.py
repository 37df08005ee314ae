"""A transformer text classifier from a Hugging Face model folder (``optimum-cli export onnx
--task text-classification``): texts tokenised with the folder's ``tokenizer.json`` by the
``tokenizers`` library (no ``transformers`` needed), fed to ``model.onnx`` by input name
(``input_ids``, ``attention_mask``, ``token_type_ids``), logits (N, K) out.

- Pairs are the tokenizer's pair encoding ([CLS] premise [SEP] hypothesis [SEP] with the pair's
  type ids, as its post-processor says); single sentences its single encoding.
- Truncation: the tokenizer's own setting, else ``tokenizer_config.json``'s ``model_max_length``
  (capped by the model's position embeddings, ``config.json``'s ``max_position_embeddings``).
- Speed: a search's candidates are fed as few padded batches as possible, sorted by length so
  that each batch pads to little more than its longest row; repeated texts are sent once
  (:class:`~auditor.text.models.TextClassifier`).
- Classes: ``config.json``'s ``id2label`` mapped onto the generator's class names by name
  (ignoring case; NLI models order their classes differently); generic names (LABEL_0, ...)
  keep the model's order, and ``--class-names`` names them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError, first_line
from ..models.contract import ModelOptions
from ..models.hf_folder import HFFolder, describe_names, given_names, reorder
from ..models.onnx_file import TEXT_INPUTS, open_model_session
from ..models.outputs import class_order
from .models import TextClassifier

BATCH = 64  # rows per model call: large enough to amortise the call, small enough to pad little
DEFAULT_LENGTH = 512  # where neither the tokenizer nor its config sets a maximum length


def open_tokenizer(folder: HFFolder) -> tuple[Any, int]:
    """The folder's tokenizer, set to truncate and pad as the model was trained, and the
    maximum length it truncates to."""
    if folder.tokenizer is None:
        raise ModelError(f"{folder.path}: a text model needs its tokenizer.json beside "
                         f"{folder.onnx.name}; export the model with its tokenizer "
                         "(`optimum-cli export onnx` writes it) or copy tokenizer.json there")
    try:
        from tokenizers import Tokenizer
    except ImportError as err:  # a dependency of auditor; reinstalling brings it back
        raise ModelError("reading tokenizer.json needs the `tokenizers` package: "
                         "pip install tokenizers") from err
    try:
        tok = Tokenizer.from_file(str(folder.tokenizer))
    except Exception as err:
        raise ModelError(f"{folder.tokenizer}: not a tokenizers file ({first_line(err)})") from err
    length = _max_length(tok, folder)
    tok.no_padding()
    tok.enable_truncation(max_length=length, strategy="longest_first")
    return tok, length


def _max_length(tok: Any, folder: HFFolder) -> int:
    own = tok.truncation
    if own and own.get("max_length"):
        return int(own["max_length"])
    length = folder.tokenizer_config.get("model_max_length")
    if not isinstance(length, (int, float)) or length <= 0 or length > 100_000:
        length = DEFAULT_LENGTH  # transformers writes 1e30 where the tokenizer sets no maximum
    positions = folder.config.get("max_position_embeddings")
    if isinstance(positions, int) and positions > 0:
        length = min(int(length), positions)
    return int(length)


def _pad_id(tok: Any, folder: HFFolder) -> int:
    padding = tok.padding
    if padding and padding.get("pad_id") is not None:
        return int(padding["pad_id"])
    token = folder.tokenizer_config.get("pad_token")
    token = token.get("content") if isinstance(token, dict) else token
    found = tok.token_to_id(token) if isinstance(token, str) else None
    if found is None:
        found = folder.config.get("pad_token_id")
    return int(found) if isinstance(found, int) else 0


class TransformerTextClassifier(TextClassifier):
    """A Hugging Face text-classification folder behind the Classifier protocol."""

    format = "onnx (Hugging Face folder)"
    max_batch = 4096
    remember = 500_000  # scores of texts already asked (TextClassifier._remembered)

    def __init__(self, folder: HFFolder, name: str, pairs: bool,
                 bundle_names: list[str] | None, options: ModelOptions | None = None,
                 threads: int = 0):
        options = options or ModelOptions()
        self.folder = folder
        self.session = open_model_session(folder.onnx, options.device, threads)
        self.provider = self.session.get_providers()[0]
        inputs = {i.name: i for i in self.session.get_inputs()}
        unknown = [n for n in inputs if n not in TEXT_INPUTS]
        if "input_ids" not in inputs or unknown:
            missing = f"its input {unknown[0]!r} cannot be fed" if unknown else "no input_ids"
            raise ModelError(f"{folder.path}: {missing}: a tokenizer gives input_ids, "
                             "attention_mask and token_type_ids; export the model with "
                             "`optimum-cli export onnx --task text-classification`")
        self.input_names = list(inputs)
        self.tokenizer, self.max_length = open_tokenizer(folder)
        self.pad_id = _pad_id(self.tokenizer, folder)
        names = given_names(options, name) or folder.id2label
        self._columns, class_names = class_order(names, bundle_names)
        super().__init__(name, pairs, class_names)
        self.path = folder.path
        self.has_scores = True
        self.notes = [n for n in [describe_names(name, names, self._columns,
                                                      given_names(options, name) is not None)]
                      if n]

    @property
    def label(self) -> str:
        return self.folder.path.name

    def describe(self) -> str:
        what = ("text pairs (N, 2) [premise, hypothesis] as the tokenizer's pair encoding"
                if self.pairs else "sentences (N,)")
        return (f"{what}, tokenized by tokenizer.json (truncated at {self.max_length} tokens, "
                "batches padded to their longest row)")

    def _encode(self, items: np.ndarray) -> list:
        rows = ([(str(p), str(h)) for p, h in items.tolist()] if self.pairs
                else [str(s) for s in items.tolist()])
        return self.tokenizer.encode_batch(rows)

    def _scored(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        encodings = self._encode(np.asarray(items, dtype=object))
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        logits: list[np.ndarray | None] = [None] * len(encodings)
        for start in range(0, len(order), BATCH):
            rows = order[start : start + BATCH]
            out = self._run([encodings[i] for i in rows])
            for k, i in enumerate(rows):
                logits[i] = out[k]
        scores = np.stack(logits) if logits else np.zeros((0, 0))  # type: ignore[arg-type]
        scores = reorder(scores.astype(np.float64), self._columns, len(self.class_names))
        if not np.all(np.isfinite(scores)):
            raise ModelError(f"{self.label} returned NaN or infinite logits")
        self.n_outputs = int(scores.shape[1])
        return scores.argmax(axis=1).astype(np.int64), scores

    def _run(self, encodings: list) -> np.ndarray:
        """Logits (n, K) of one padded batch."""
        width = max(len(e.ids) for e in encodings)
        feed = {}
        for name in self.input_names:
            fill = self.pad_id if name == "input_ids" else 0
            arr = np.full((len(encodings), width), fill, dtype=np.int64)
            for r, e in enumerate(encodings):
                values = {"input_ids": e.ids, "attention_mask": e.attention_mask,
                          "token_type_ids": e.type_ids}[name]
                arr[r, : len(values)] = values
            feed[name] = arr
        try:
            out = self.session.run(None, feed)[0]
        except Exception as err:
            raise ModelError(f"{self.label}: inference failed: {first_line(err)}") from err
        out = np.asarray(out)
        if out.ndim != 2 or out.shape[0] != len(encodings):
            raise ModelError(f"{self.label}: its first output has shape {out.shape}; expected "
                             "logits (N, K)")
        return out


def text_folder(path: Path) -> HFFolder | None:
    """The Hugging Face files of a text model: ``path`` a folder, or an ONNX file whose folder
    holds a tokenizer; None for an ONNX file with no such files beside it."""
    from ..models.hf_folder import beside, read_folder

    return read_folder(path) if path.is_dir() else beside(path)
