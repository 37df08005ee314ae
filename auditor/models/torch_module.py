"""The in-memory torch backend: a ``torch.nn.Module`` (a training loop's model, a notebook's),
run as a TorchScript file is, on the device its parameters are on and never moved."""

from __future__ import annotations

import sys

import numpy as np

from .contract import ModelOptions
from .torchscript import TorchScriptClassifier
from .backends import MODEL_OBJECTS


@MODEL_OBJECTS.register("torch.nn.Module")
class TorchModuleClassifier(TorchScriptClassifier):
    """A ``torch.nn.Module`` given in memory: run in eval mode under ``torch.inference_mode()``
    on the device its parameters are on (CPU for a module without parameters, or ``device``),
    never moved; its train/eval mode is put back after every call."""

    format = "torch.nn.Module"

    @staticmethod
    def accepts(model) -> bool:
        """An object models/loading.py gives this backend."""
        torch = sys.modules.get("torch")  # never imported for a model that cannot be one
        return torch is not None and isinstance(model, torch.nn.Module)

    def __init__(self, module, name: str, image_shape: tuple[int, int, int],
                 options: ModelOptions):
        import torch

        self.name, self.path, self.module, self._torch = name, None, module, torch
        self.gradient_module = module
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
