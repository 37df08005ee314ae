"""The latent searches' registry: ``--search NAME`` -> the class, each search registering itself
where it is defined (``@SEARCHES.register("local")``); search/registry.py imports them."""

from __future__ import annotations

from ..registry import Registry

SEARCHES: Registry = Registry("latent search")
