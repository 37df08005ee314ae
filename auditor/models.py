"""Classifiers behind one interface: images in, predicted labels out (a black box).

Backends: ONNX through ONNX Runtime (CUDA execution provider when a GPU is really there,
else CPU) and TorchScript through ``torch.jit.load`` (never an unpickling ``torch.load``).

The input contract is read from the model where it declares one, else found by probing:
layout (N, C, H, W), (N, H, W, C), (N, H, W) or flattened (N, C*H*W); a dynamic or fixed
batch (a model fixed at batch B is fed in chunks of B); pixels in [0, 1] times
``input_scale``, then ``(x - mean) / std``. Outputs: scores (N, K) -> argmax, or labels
(N,); with several outputs the label output is preferred, else the first score output.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import ModelError, first_line

ONNX_SUFFIXES = {".onnx"}
TORCHSCRIPT_SUFFIXES = {".pt", ".ts", ".pth", ".jit"}
LAYOUTS = ("nchw", "nhwc", "nhw", "flat")


class Classifier(Protocol):
    name: str
    path: Path | None  # None for a model given in memory
    format: str
    contract: InputContract

    def predict(self, images: np.ndarray) -> np.ndarray:
        """(N, C, H, W) float32 in [0, 1] -> (N,) int64 labels."""
        ...


@dataclass
class InputContract:
    """How the generator's images (N, C, H, W) in [0, 1] are turned into the model's input."""

    layout: str  # one of LAYOUTS
    batch: int | None  # fixed batch size, or None for a dynamic batch
    channels: int  # channels the model takes (1 -> 3 replicates a grayscale image)
    input_scale: float = 1.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    dtype: Any = np.float32
    size: tuple[int, int] | None = None  # (H, W) the model takes where it differs from the generator's images

    def describe(self) -> str:
        batch = "dynamic batch" if self.batch is None else f"batch fixed at {self.batch}"
        norm = f", resized (bilinear) to {self.size[0]}x{self.size[1]}" if self.size else ""
        if self.input_scale != 1.0:
            norm += f", pixels x {self.input_scale:g}"
        if self.mean != (0.0,) or self.std != (1.0,):
            norm += f", normalised by mean {self.mean} std {self.std}"
        return f"{self.layout.upper()}, {self.channels} channel(s), {batch}{norm}"

    def prepare(self, images: np.ndarray) -> np.ndarray:
        """(N, C, H, W) in [0, 1] -> the model's input array."""
        x = images
        if self.size is not None and tuple(x.shape[2:]) != self.size:
            x = resize(x, self.size)
        if x.shape[1] != self.channels:
            x = np.repeat(x, self.channels, axis=1) if x.shape[1] == 1 else x.mean(1, keepdims=True)
        if self.input_scale != 1.0:
            x = x * np.float32(self.input_scale)
        if self.mean != (0.0,) or self.std != (1.0,):
            mean = np.asarray(self.mean, dtype=np.float32).reshape(1, -1, 1, 1)
            std = np.asarray(self.std, dtype=np.float32).reshape(1, -1, 1, 1)
            x = (x - mean) / std
        if self.layout == "nhwc":
            x = x.transpose(0, 2, 3, 1)
        elif self.layout == "nhw":
            x = x[:, 0]
        elif self.layout == "flat":
            x = x.reshape(len(x), -1)
        return np.ascontiguousarray(x, dtype=self.dtype)


def resize(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, C, H, W) -> (N, C, *size), bilinear (antialiased when shrinking), values kept in [0, 1]."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    shrink = size[0] < x.shape[2] or size[1] < x.shape[3]
    out = torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)
    return out.clamp_(0.0, 1.0).numpy()


@dataclass
class ModelOptions:
    input_scale: float = 1.0
    normalize: tuple[float, ...] | None = None  # (mean, std) or (means..., stds...)
    layout: str | None = None  # force a layout instead of reading/probing it
    device: str | None = None  # "cpu" or "cuda"; None picks CUDA when a GPU is present


def cuda_present() -> bool:
    """True only when an NVIDIA GPU and driver are really there."""
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/nvidia0")


def load_classifier(
    path: Path, name: str, image_shape: tuple[int, int, int], options: ModelOptions | None = None
) -> Classifier:
    """Load ``path`` by its extension and fit its input contract to ``image_shape`` (C, H, W)."""
    options = options or ModelOptions()
    path = Path(path)
    if not path.exists():
        raise ModelError(f"model file {str(path)!r} does not exist")
    if path.is_dir():
        raise ModelError(f"model path {str(path)!r} is a folder; pass a .onnx or TorchScript .pt file")
    suffix = path.suffix.lower()
    if suffix in ONNX_SUFFIXES:
        return OnnxClassifier(path, name, image_shape, options)
    if suffix in TORCHSCRIPT_SUFFIXES:
        return TorchScriptClassifier(path, name, image_shape, options)
    raise ModelError(
        f"{path.name}: unknown model format {suffix or '(no extension)'!r}; expected .onnx "
        "(ONNX) or .pt/.ts (TorchScript, saved with torch.jit.save)"
    )


def _normalisation(options: ModelOptions, channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if options.normalize is None:
        return (0.0,), (1.0,)
    values = tuple(float(v) for v in options.normalize)
    if len(values) == 2:
        mean, std = values[:1], values[1:]
    elif len(values) == 2 * channels:
        mean, std = values[:channels], values[channels:]
    else:
        raise ModelError(
            f"--normalize expects MEAN,STD or {channels} means then {channels} stds, got {len(values)} values"
        )
    if min(std) <= 0:
        raise ModelError(f"--normalize: standard deviations must be positive, got {std}")
    return mean, std


def _labels_from_output(out: np.ndarray, n: int, model: str) -> np.ndarray | None:
    """Scores (N, K) -> argmax; labels (N,) or (N, 1) integer -> labels; else None."""
    arr = np.asarray(out)
    if arr.ndim >= 1 and arr.shape[0] != n:
        return None
    if arr.ndim == 2 and arr.shape[1] >= 2 and np.issubdtype(arr.dtype, np.number):
        if not np.all(np.isfinite(arr)):
            bad = int((~np.isfinite(arr)).any(axis=1).sum())
            raise ModelError(
                f"model {model!r} returned NaN or infinite scores for {bad} of {n} images; check "
                "its input preprocessing (--input-scale, --normalize)"
            )
        return arr.argmax(axis=1).astype(np.int64)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim == 1 and (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        return arr.astype(np.int64)
    if arr.ndim == 1 and np.issubdtype(arr.dtype, np.floating):
        if np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            return arr.astype(np.int64)
        return None
    return None


def log_probabilities(scores: np.ndarray, model: str) -> np.ndarray:
    """(N, K) scores -> log-probabilities: rows that are probabilities (non-negative, summing to
    1) -> log(clip(p, 1e-12)), anything else is taken as logits -> log-softmax."""
    s = np.asarray(scores, dtype=np.float64)
    if not np.all(np.isfinite(s)):
        raise ModelError(f"{model} returned NaN or infinite scores; check its input preprocessing")
    if s.min() >= 0 and np.allclose(s.sum(axis=1), 1.0, atol=1e-3):
        return np.log(np.clip(s, 1e-12, None))
    s = s - s.max(axis=1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))


def _zipmap(rows: list, index: dict) -> np.ndarray:
    """scikit-learn's ONNX probabilities, a list of {class: probability} maps -> (N, K), the
    columns in the model's label indices (integer classes are their own index, string classes
    their position in ``index``)."""
    keys = list(rows[0].keys()) if rows else []
    column = {k: int(k) if isinstance(k, (int, np.integer)) else index[k] for k in keys}
    out = np.zeros((len(rows), max(column.values(), default=-1) + 1))
    for i, row in enumerate(rows):
        for k, v in row.items():
            out[i, column[k]] = v
    return out


class _Base:
    name: str
    path: Path
    format: str
    contract: InputContract
    class_names: list[str] | None = None
    n_outputs: int | None = None  # K of a scores output (N, K), known after a first predict

    def predict(self, images: np.ndarray) -> np.ndarray:
        x = self.contract.prepare(images)
        fixed = self.contract.batch
        step = fixed or self.max_batch
        labels = []
        for start in range(0, len(x), step):
            chunk = x[start : start + step]
            n = len(chunk)
            if fixed and n < fixed:  # pad a short last chunk to the fixed batch size
                pad = np.zeros((fixed - n, *chunk.shape[1:]), dtype=chunk.dtype)
                chunk = np.concatenate([chunk, pad])
            found = self._labels(chunk, len(chunk))
            if len(found) != len(chunk):
                raise ModelError(f"{self.label}: returned {len(found)} labels for {len(chunk)} images; expected one "
                                 "label (N,) or one row of scores (N, K) per image")
            labels.append(found[:n])
        return np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)

    max_batch = 4096
    has_scores = False  # the model gives class scores besides labels (see predict_scores)

    def predict_scores(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Labels (N,) and log-probabilities (N, K) from one model call per image: log-softmax
        of logits, or the log of probabilities clipped away from 0. Only where ``has_scores``."""
        if not self.has_scores:
            raise ModelError(f"{self.label} gives labels only, no class scores")
        x = self.contract.prepare(images)
        fixed = self.contract.batch
        step = fixed or self.max_batch
        labels, scores = [], []
        for start in range(0, len(x), step):
            chunk = x[start : start + step]
            n = len(chunk)
            if fixed and n < fixed:
                chunk = np.concatenate([chunk, np.zeros((fixed - n, *chunk.shape[1:]), dtype=chunk.dtype)])
            lab, sc = self._scored(chunk, len(chunk))
            labels.append(lab[:n])
            scores.append(log_probabilities(sc[:n], self.label))
        return np.concatenate(labels), np.concatenate(scores)

    def _scored(self, x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    @property
    def label(self) -> str:
        """How messages name the model: its file name, or its name when it was given in memory."""
        return self.path.name if self.path is not None else f"model {self.name!r}"

    def _labels(self, x: np.ndarray, n: int) -> np.ndarray:
        raise NotImplementedError

    def _string_labels(self, arr: np.ndarray) -> np.ndarray:
        names = self.class_names if self.class_names is not None else []
        self.class_names = names
        index = {v: i for i, v in enumerate(names)}
        out = np.empty(len(arr), dtype=np.int64)
        for i, value in enumerate(arr.tolist()):
            if value not in index:
                index[value] = len(names)
                names.append(str(value))
            out[i] = index[value]
        return out


class OnnxClassifier(_Base):
    format = "onnx"

    def __init__(self, path: Path | None, name: str, image_shape: tuple[int, int, int], options: ModelOptions,
                 session: Any = None):
        self.name, self.path = name, path
        self.session = session if session is not None else self._open(path, options)
        self.provider = self.session.get_providers()[0]
        self._read_contract(image_shape, options)

    @staticmethod
    def _open(path: Path, options: ModelOptions):
        import onnxruntime as ort

        ort.set_default_logger_severity(3)
        so = ort.SessionOptions()
        so.log_severity_level = 3
        threads = int(os.environ.get("AUDITOR_THREADS", "0") or 0)  # a Ray worker's share of its machine's cores
        if threads > 0:
            so.intra_op_num_threads = threads
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # ONNX Runtime's idle threads spin after each run, and a scan alternates its calls with the
        # generator's torch threads: spinning took the cores from torch (a text decode ran 15x slower)
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        want_cuda = options.device == "cuda" or (options.device is None and cuda_present())
        if want_cuda and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            return ort.InferenceSession(str(path), so, providers=providers)
        except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph/... types
            if len(providers) > 1:
                try:
                    return ort.InferenceSession(str(path), so, providers=providers[-1:])
                except Exception:
                    raise _onnx_error(path, err) from err
            raise _onnx_error(path, err) from err

    def _read_contract(self, image_shape: tuple[int, int, int], options: ModelOptions) -> None:
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ModelError(
                f"{self.label}: expected a model with one image input, got {len(inputs)} inputs "
                f"({', '.join(i.name for i in inputs)})"
            )
        self.input_name = inputs[0].name
        dtype = {"tensor(float)": np.float32, "tensor(double)": np.float64,
                 "tensor(float16)": np.float16, "tensor(uint8)": np.uint8}.get(inputs[0].type)
        if dtype is None:
            raise ModelError(f"{self.label}: input type {inputs[0].type} is not an image tensor; expected float")
        shape = list(inputs[0].shape)
        self.contract = _contract_from_shape(self.label, shape, image_shape, options, dtype)
        if dtype == np.uint8 and options.input_scale == 1.0:
            self.contract.input_scale = 255.0
        self.output_names = [o.name for o in self.session.get_outputs()]
        self._output: str | None = None
        self._probe(image_shape)

    def _probe(self, image_shape: tuple[int, int, int]) -> None:
        n = self.contract.batch or 2
        x = self.contract.prepare(np.zeros((n, *image_shape), dtype=np.float32))
        try:
            outs = self.session.run(None, {self.input_name: x})
        except Exception as err:
            raise ModelError(
                f"{self.label}: the model fails on {self.contract.describe()} input of "
                f"shape {x.shape}: {first_line(err)}"
            ) from err
        label_outputs = []
        score_outputs = []
        self._zipmap_output = None
        for name, out in zip(self.output_names, outs):
            if isinstance(out, list) and len(out) == n and all(isinstance(r, dict) for r in out):
                self._zipmap_output = name  # scikit-learn's probabilities as maps (ZipMap)
                continue
            arr = np.asarray(out) if not isinstance(out, list) else None
            if arr is None or arr.dtype == object:
                if arr is not None and arr.ndim == 1 and len(arr) == n and arr.dtype == object:
                    label_outputs.append(name)  # string labels
                continue
            if arr.ndim == 2 and arr.shape == (n, 1) or arr.ndim == 1 and arr.shape[0] == n:
                label_outputs.append(name)
            elif arr.ndim == 2 and arr.shape[0] == n and arr.shape[1] >= 2:
                score_outputs.append(name)
        chosen = (label_outputs or score_outputs or [None])[0]
        if chosen is None:
            shapes = ", ".join(
                f"{nm} {np.shape(o) if not isinstance(o, list) else 'list'}" for nm, o in zip(self.output_names, outs)
            )
            raise ModelError(
                f"{self.label}: expected an output of scores (N, K) or labels (N,), got {shapes}"
            )
        self._output = chosen
        self._score_output = score_outputs[0] if score_outputs else self._zipmap_output
        self.has_scores = self._score_output is not None

    def _scored(self, x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        names = list(dict.fromkeys([self._output, self._score_output]))
        try:
            outs = self.session.run(names, {self.input_name: x})
        except Exception as err:
            raise ModelError(f"{self.label}: inference failed: {first_line(err)}") from err
        labels, raw = self._labels_of(outs[0], n), outs[-1]
        if isinstance(raw, list):  # ZipMap: string classes are registered in the labels' order first
            keys = list(raw[0].keys()) if raw else []
            if keys and not isinstance(keys[0], (int, np.integer)):
                self._string_labels(np.array(keys, dtype=object))
            scores = _zipmap(raw, {v: i for i, v in enumerate(self.class_names or [])})
        else:
            scores = np.asarray(raw)
        return labels, scores

    def _labels(self, x: np.ndarray, n: int) -> np.ndarray:
        try:
            (out,) = self.session.run([self._output], {self.input_name: x})
        except Exception as err:
            raise ModelError(f"{self.label}: inference failed: {first_line(err)}") from err
        return self._labels_of(out, n)

    def _labels_of(self, out: Any, n: int) -> np.ndarray:
        arr = np.asarray(out)
        if arr.dtype == object or arr.dtype.kind in "US":
            return self._string_labels(arr.reshape(-1))
        if arr.ndim == 2 and arr.dtype.kind == "f" and arr.shape[1] > 1:
            self.n_outputs = int(arr.shape[1])
        labels = _labels_from_output(arr, n, self.name)
        if labels is None:
            raise ModelError(
                f"{self.label}: output {self._output!r} has shape {arr.shape} and dtype {arr.dtype}; "
                "expected scores (N, K) or integer labels (N,)"
            )
        return labels


def _onnx_error(path: Path, err: BaseException) -> ModelError:
    return ModelError(f"{path.name}: not a loadable ONNX model ({first_line(err)}); check the file")


def _contract_from_shape(
    model: str, shape: list[Any], image_shape: tuple[int, int, int], options: ModelOptions, dtype: Any
) -> InputContract:
    """Read layout and batch from a declared input shape like ['batch', 1, 28, 28]."""
    c, h, w = image_shape
    dims = [d if isinstance(d, int) and d > 0 else None for d in shape]
    batch = dims[0] if dims else None
    layout = options.layout
    channels = c
    rank = len(dims)

    def mismatch(found: str) -> ModelError:
        return ModelError(
            f"{model}: the model expects {found} images but the generator makes {c}x{h}x{w}; "
            "pass --generator with a generator of the model's domain (make one with "
            "`auditor train-generator`)"
        )

    if layout is None:
        if rank == 4:
            if dims[1] in (1, 3) and (dims[3] not in (1, 3) or dims[2:] == [h, w]):
                layout = "nchw"
            elif dims[3] in (1, 3):
                layout = "nhwc"
            elif dims[1] is None and dims[3] is None:
                layout = "nchw"
            else:
                raise mismatch("x".join(str(d or "?") for d in dims[1:]))
        elif rank == 3:
            layout = "nhw"
        elif rank == 2:
            layout = "flat"
        else:
            raise ModelError(
                f"{model}: cannot read the input layout from shape {shape}; pass --layout "
                "nchw, nhwc, nhw or flat"
            )
    if layout == "nchw" and rank == 4:
        channels = dims[1] or c
        spatial = dims[2:]
    elif layout == "nhwc" and rank == 4:
        channels = dims[3] or c
        spatial = dims[1:3]
    elif layout == "nhw" and rank == 3:
        channels = 1
        spatial = dims[1:]
    elif layout == "flat" and rank == 2:
        spatial = []
        if dims[1] is not None and dims[1] != c * h * w:
            if dims[1] == h * w * 3 and c == 1:
                channels = 3
            else:
                raise mismatch(f"{dims[1]} flattened values per image (the generator's make {c * h * w})")
    else:
        raise ModelError(f"{model}: --layout {layout} does not fit the model's input shape {shape}")
    size = None
    if any(s is not None and s != t for s, t in zip(spatial, (h, w))):
        found = f"{channels}x{'x'.join(str(s or '?') for s in spatial)}"
        if None in spatial or channels != c:
            raise mismatch(found)
        size = (int(spatial[0]), int(spatial[1]))  # another size, the same domain: candidates are resized to it
    if channels not in (1, 3) or (channels == 1 and c == 3):
        raise mismatch(f"{channels}-channel")
    mean, std = _normalisation(options, channels)
    return InputContract(layout, batch, channels, options.input_scale, mean, std, dtype, size)


class TorchScriptClassifier(_Base):
    format = "torchscript"

    def __init__(self, path: Path, name: str, image_shape: tuple[int, int, int], options: ModelOptions):
        import torch

        self.name, self.path = name, path
        self.device = options.device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            self.module = torch.jit.load(str(path), map_location=self.device).eval()
        except Exception as err:  # RuntimeError, ValueError, zipfile errors, ...
            raise ModelError(
                f"{path.name}: not a TorchScript file ({first_line(err)}); a pickled model or a "
                "state_dict is never loaded (unsafe): export it with torch.jit.script(model).save(path)"
            ) from err
        self.provider = self.device
        self._torch = torch
        self.contract = self._find_contract(image_shape, options)
        self._optimise(image_shape)

    def _optimise(self, image_shape: tuple[int, int, int]) -> None:
        """Freeze the loaded module and fold its batch norms (torch.jit.optimize_for_inference): a
        ResNet-20 ran 3.4x faster on 2 CPU cores (1.61 against 0.48 ms per photo). Kept only where it
        gives the same labels on a probe batch; the user's file is never changed."""
        torch = self._torch
        if self.device != "cpu":
            return
        x = self.contract.prepare(np.random.default_rng(0).random((16, *image_shape), dtype=np.float32))
        original = self.gradient_module = self.module  # white-box attacks differentiate the original
        try:
            before = self._labels(x, 16)
            self.module = torch.jit.optimize_for_inference(torch.jit.freeze(original))
            same = np.array_equal(self._labels(x, 16), before)
        except Exception:  # a module freezing does not support: run it as it is
            same = False
        if not same:
            self.module = original

    def _find_contract(self, image_shape: tuple[int, int, int], options: ModelOptions) -> InputContract:
        """Probe layouts with a batch of 2 zero images; the first that yields labels wins."""
        c = image_shape[0]
        layouts = [options.layout] if options.layout else ["nchw", "flat", "nhwc", "nhw"]
        errors = []
        for layout in layouts:
            channel_options = [c] if c == 3 or layout in ("nhw",) else [c, 3]
            for channels in channel_options:
                if layout == "nhw" and c != 1:
                    continue
                mean, std = _normalisation(options, channels)
                contract = InputContract(layout, None, channels, options.input_scale, mean, std)
                x = contract.prepare(np.zeros((2, *image_shape), dtype=np.float32))
                try:
                    labels = self._labels(x, 2)
                except ModelError:
                    raise
                except Exception as err:
                    errors.append(f"{layout}: {first_line(err)}")
                    continue
                if labels is not None and len(labels) == 2:
                    return contract
        raise ModelError(
            f"{self.label}: the model accepts none of the input layouts tried for "
            f"{'x'.join(map(str, image_shape))} images ({'; '.join(errors)[:400]}); if it takes another "
            "domain, pass --generator with a generator of that domain"
        )

    def _labels(self, x: np.ndarray, n: int) -> np.ndarray:
        return self._scored(x, n)[0]

    def _scored(self, x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Labels from the first output that gives them, scores from the first (N, K) float output."""
        torch = self._torch
        try:
            with torch.inference_mode():
                out = self.module(torch.from_numpy(x).to(self.device))
        except Exception as err:
            if self.__dict__.get("contract") is None:  # probing input layouts: _find_contract tries the next
                raise
            raise ModelError(f"{self.label}: inference failed on a batch of {n}: {first_line(err)}") from err
        candidates = out if isinstance(out, (tuple, list)) else list(out.values()) if isinstance(out, dict) else [out]
        labels = scores = None
        for item in candidates:
            if isinstance(item, torch.Tensor):
                arr = item.float().cpu().numpy() if item.is_floating_point() else item.cpu().numpy()
                if labels is None:
                    labels = _labels_from_output(arr, n, self.name)
                if scores is None and item.ndim == 2 and item.is_floating_point() and item.shape[1] > 1:
                    self.n_outputs, self.has_scores, scores = int(item.shape[1]), True, arr
        if labels is not None:
            return labels, scores
        raise ModelError(
            f"{self.label}: expected an output of scores (N, K) or labels (N,), got "
            f"{[tuple(t.shape) for t in candidates if isinstance(t, torch.Tensor)]}"
        )


class TorchModuleClassifier(TorchScriptClassifier):
    """A ``torch.nn.Module`` given in memory (a training loop's model, a notebook's): run in
    eval mode under ``torch.inference_mode()`` on the device its parameters are on (CPU for a
    module without parameters, or ``device``), never moved; its train/eval mode is put back
    after every call."""

    format = "torch.nn.Module"

    def __init__(self, module, name: str, image_shape: tuple[int, int, int], options: ModelOptions):
        import torch

        self.name, self.path, self.module, self._torch = name, None, module, torch
        first = next(iter(module.parameters()), None)
        self.device = first.device if first is not None else torch.device(options.device or "cpu")
        self.provider = str(self.device)
        self.contract = self._find_contract(image_shape, options)

    def _scored(self, x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray | None]:
        training = self.module.training
        self.module.eval()
        try:
            return super()._scored(x, n)
        finally:
            self.module.train(training)


class OnnxSessionClassifier(OnnxClassifier):
    """An ``onnxruntime.InferenceSession`` given in memory; its providers are the caller's."""

    format = "onnx (session)"

    def __init__(self, session, name: str, image_shape: tuple[int, int, int], options: ModelOptions):
        super().__init__(None, name, image_shape, options, session=session)


class CallableClassifier(_Base):
    """Any function ``f(images) -> labels (N,) or scores (N, K)``: images are float32 (N, C, H, W)
    in [0, 1] (after ``input_scale`` and ``normalize``; ``layout`` changes the array's shape),
    the result a NumPy array, a list or a tensor. Covers scikit-learn
    (``lambda x: est.predict(x.reshape(len(x), -1))``), JAX, TensorFlow and remote endpoints."""

    format = "callable"
    provider = "python"

    def __init__(self, fn, name: str, image_shape: tuple[int, int, int], options: ModelOptions):
        self.name, self.path, self.fn = name, None, fn
        c = image_shape[0]
        mean, std = _normalisation(options, c)
        self.contract = InputContract(options.layout or "nchw", None, c, options.input_scale, mean, std)
        self.predict(np.zeros((2, *image_shape), dtype=np.float32))  # fails early, with the reason

    def _labels(self, x: np.ndarray, n: int) -> np.ndarray:
        return self._scored(x, n)[0]

    def _scored(self, x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray | None]:
        try:
            out = self.fn(x)
        except Exception as err:
            raise ModelError(f"{self.label}: the function raised {type(err).__name__} on input of shape {x.shape} "
                             f"({self.contract.describe()}): {first_line(err)}") from err
        if hasattr(out, "detach"):  # a torch tensor
            out = out.detach().cpu().numpy()
        arr = np.asarray(out)
        if arr.dtype == object or arr.dtype.kind in "US":
            return self._string_labels(arr.reshape(-1)), None
        labels = _labels_from_output(arr, n, self.name)
        if labels is None:
            raise ModelError(f"{self.label}: the function returned shape {arr.shape} and dtype {arr.dtype} for "
                             f"{n} images; expected scores (N, K) or integer labels (N,)")
        if arr.ndim == 2 and arr.dtype.kind == "f" and arr.shape[1] > 1:
            self.n_outputs, self.has_scores = int(arr.shape[1]), True
            return labels, arr
        return labels, None


def as_classifier(model: Any, name: str, image_shape: tuple[int, int, int],
                  options: ModelOptions | None = None) -> Classifier:
    """A classifier from a model file's path, a ``torch.nn.Module``, an
    ``onnxruntime.InferenceSession`` or a function ``f(images) -> labels or scores``."""
    options = options or ModelOptions()
    if isinstance(model, (str, os.PathLike)):
        return load_classifier(Path(model), name, image_shape, options)
    kind = type(model)
    if _is_torch_module(model):
        return TorchModuleClassifier(model, name, image_shape, options)
    if kind.__module__.split(".")[0] == "onnxruntime" and hasattr(model, "get_inputs") and hasattr(model, "run"):
        return OnnxSessionClassifier(model, name, image_shape, options)
    if callable(model):
        return CallableClassifier(model, name, image_shape, options)
    hint = (" (a scikit-learn estimator: pass `lambda x: est.predict(x.reshape(len(x), -1))`)"
            if hasattr(model, "predict") else "")
    raise ModelError(f"model {name!r} is a {kind.__name__}, not a model: pass a .onnx or TorchScript path, a "
                     f"torch.nn.Module, an onnxruntime.InferenceSession or a function images -> labels{hint}")


def model_digest(model: Any) -> str | None:
    """SHA-256 that identifies an in-memory model's weights (a torch module's state dict), else None."""
    import hashlib

    if not _is_torch_module(model):
        return None
    digest = hashlib.sha256()
    for key, tensor in model.state_dict().items():
        digest.update(key.encode())
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(flat.view(sys.modules["torch"].uint8).numpy().tobytes())  # any dtype, bfloat16 too
    return digest.hexdigest()


def _is_torch_module(model: Any) -> bool:
    torch = sys.modules.get("torch")  # never imported for a model that cannot be one
    return torch is not None and isinstance(model, torch.nn.Module)


def default_name(model: Any) -> str:
    """A model's name where none is given: a file's stem, a function's or class's name."""
    if isinstance(model, (str, os.PathLike)):
        return Path(model).stem or Path(model).name
    name = getattr(model, "__name__", None)
    return name if isinstance(name, str) and name != "<lambda>" else type(model).__name__.lower()


def unique_names(models: list[Any]) -> list[str]:
    """Default names (file stems, function names), made unique when two collide: lenet, lenet-2, ..."""
    names: list[str] = []
    for model in models:
        stem = default_name(model)
        name, k = stem, 2
        while name in names:
            name, k = f"{stem}-{k}", k + 1
        names.append(name)
    return names
