"""The TorchScript backend: a file saved with ``torch.jit.save``, loaded with
``torch.jit.load`` (never an unpickling ``torch.load``).

Its input layout is found by probing with blank images (NCHW, flattened, NHWC, NHW; a
grayscale domain also as 3 channels). On CPU the module runs frozen with its batch norms
folded where that gives the same labels; white-box attacks differentiate the original
(``gradient_module``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelError, first_line
from .base import ImageClassifier
from .contract import InputContract, ModelOptions, normalisation
from .outputs import labels_from_output
from .backends import MODEL_FILES


@MODEL_FILES.register("torchscript")
class TorchScriptClassifier(ImageClassifier):
    format = "torchscript"
    suffixes = (".pt", ".ts", ".pth", ".jit")  # the files models/loading.py gives this backend

    @classmethod
    def from_file(cls, path: Path, name: str, image_shape: tuple[int, int, int],
                  options: ModelOptions, threads: int = 0,
                  class_names: list[str] | None = None) -> TorchScriptClassifier:
        return cls(path, name, image_shape, options)  # torch's threads are the process's

    def __init__(self, path: Path, name: str, image_shape: tuple[int, int, int],
                 options: ModelOptions):
        import torch

        self.name, self.path = name, path
        self.device = options.device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            self.module = torch.jit.load(str(path), map_location=self.device).eval()
        except Exception as err:  # RuntimeError, ValueError, zipfile errors, ...
            raise ModelError(
                f"{path.name}: not a TorchScript file ({first_line(err)}); a pickled model or a "
                "state_dict is never loaded (unsafe): export it with "
                "torch.jit.script(model).save(path)"
            ) from err
        self.gradient_module = self.module  # white-box attacks differentiate the loaded module
        self.provider = self.device
        self._torch = torch
        self.contract = self._find_contract(image_shape, options)
        self._optimise(image_shape)

    def _optimise(self, image_shape: tuple[int, int, int]) -> None:
        """Freeze the loaded module and fold its batch norms (torch.jit.optimize_for_inference):
        a ResNet-20 ran 3.4x faster on 2 CPU cores (1.61 against 0.48 ms per photo). Kept only
        where it gives the same labels on a probe batch; the user's file is never changed."""
        torch = self._torch
        if self.device != "cpu":
            return
        probe = np.random.default_rng(0).random((16, *image_shape), dtype=np.float32)
        x = self.contract.prepare(probe)
        original = self.gradient_module  # frozen modules have no gradients: attacks use this one
        try:
            before = self._labels(x, 16)
            self.module = torch.jit.optimize_for_inference(torch.jit.freeze(original))
            same = np.array_equal(self._labels(x, 16), before)
        except Exception:  # a module freezing does not support: run it as it is
            same = False
        if not same:
            self.module = original

    def _find_contract(self, image_shape: tuple[int, int, int],
                       options: ModelOptions) -> InputContract:
        """Probe layouts with a batch of 2 zero images; the first that yields labels wins."""
        c = image_shape[0]
        layouts = [options.layout] if options.layout else ["nchw", "flat", "nhwc", "nhw"]
        errors = []
        for layout in layouts:
            channel_options = [c] if c == 3 or layout in ("nhw",) else [c, 3]
            for channels in channel_options:
                if layout == "nhw" and c != 1:
                    continue
                mean, std = normalisation(options, channels)
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
            f"{'x'.join(map(str, image_shape))} images ({'; '.join(errors)[:400]}); if it takes "
            "another domain, pass --generator with a generator of that domain"
        )

    def _labels(self, x: np.ndarray, n: int) -> np.ndarray:
        return self._scored(x, n)[0]

    def _scored(self, x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Labels from the first output that gives them, scores from the first (N, K) float
        output."""
        torch = self._torch
        try:
            with torch.inference_mode():
                out = self.module(torch.from_numpy(x).to(self.device))
        except Exception as err:
            if self.__dict__.get("contract") is None:  # probing layouts: _find_contract goes on
                raise
            raise ModelError(f"{self.label}: inference failed on a batch of {n}: "
                             f"{first_line(err)}") from err
        candidates = (out if isinstance(out, (tuple, list))
                      else list(out.values()) if isinstance(out, dict) else [out])
        labels = scores = None
        for item in candidates:
            if isinstance(item, torch.Tensor):
                arr = item.float().cpu().numpy() if item.is_floating_point() else item.cpu().numpy()
                if labels is None:
                    labels = labels_from_output(arr, n, self.name)
                if (scores is None and item.ndim == 2 and item.is_floating_point()
                        and item.shape[1] > 1):
                    self.n_outputs, self.has_scores, scores = int(item.shape[1]), True, arr
        if labels is not None:
            return labels, scores
        raise ModelError(
            f"{self.label}: expected an output of scores (N, K) or labels (N,), got "
            f"{[tuple(t.shape) for t in candidates if isinstance(t, torch.Tensor)]}"
        )

