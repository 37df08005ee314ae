"""The generator backends' registry: manifest family -> ``load_bundle(bundle, manifest, device,
load_reference)``, each backend registering its own families where it is defined
(``@GENERATORS.register("vae-mlp", "vae-conv")``); ``bundle.load_generator`` imports them."""

from __future__ import annotations

from ..registry import Registry

GENERATORS: Registry = Registry("generator family")
