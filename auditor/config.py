"""A scan's settings: one frozen :class:`ScanConfig` made of small settings objects, built and
validated in one place (:func:`build_config`) from ``auditor.scan``'s keywords, which are the
CLI's options. results.json records them as before (the search's settings, the pixel view's,
the models' input options, the gate)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import OptionError
from .formats import FORMATS as ALL_FORMATS


@dataclass(frozen=True)
class GateSettings:
    """The ranking's significance level and the release gate against a baseline model."""

    baseline: str | None = None
    alpha: float = 0.05
    on: str = "dz"  # dz or error-distance


@dataclass(frozen=True)
class ErrorSettings:
    """The natural-error figures and the search-error estimate."""

    distance: str = "auto"  # --error-distance: auto, on, off
    search_error_images: int | None = None  # --search-error: None (auto), 0 (off) or N images


@dataclass(frozen=True)
class OutputSettings:
    """Where and what a scan writes."""

    out: Path | None = None
    formats: tuple[str, ...] = ALL_FORMATS
    resume: bool = False
    force: bool = False
    wait: float = 0.0
    gallery: int = 12


@dataclass(frozen=True)
class ClusterSettings:
    """A search on Ray: a local cluster of ``workers`` processes, or the one at ``address``."""

    workers: int | None = None
    address: str | None = None


@dataclass(frozen=True)
class ScanConfig:
    """Everything a scan is asked to do, besides its models and inputs."""

    generator: str
    search: Any  # search.SearchSettings, resolved
    pixel: Any  # pixel.PixelSettings, validated
    models: Any  # models.ModelOptions
    errors: ErrorSettings
    gate: GateSettings
    outputs: OutputSettings
    limit: int | None = None
    device: str | None = None
    cluster: ClusterSettings | None = None


def build_config(named: Mapping[str, Any], *, out=None, formats=ALL_FORMATS, generator="auto",
                 search="auto", seed=0, limit=None, samples=None, step=None, max_radius=None,
                 patience=3, max_steps=None, refine_steps=50, normalize=None, input_scale=1.0,
                 layout=None, gallery=12, device=None, batch=None, resume=False, force=False,
                 wait=0.0, baseline=None, alpha=0.05, gate_on="dz", error_distance="auto",
                 pixel_attack="none", pixel_norm="l2", pixel_max=None, pixel_queries=2000,
                 search_error="auto", workers=None, ray=None, class_names=None) -> ScanConfig:
    """The :class:`ScanConfig` of ``auditor.scan``'s keywords for the models ``named``; an
    :class:`OptionError` naming the option for anything invalid."""
    from .models import ModelOptions
    from .pixel import PixelSettings
    from .formats import parse_formats
    from .search import SearchSettings
    from .search.estimate import parse_error_images

    settings = SearchSettings(
        algorithm=search, samples=samples, step=step, max_radius=max_radius, patience=patience,
        max_steps=max_steps, refine_steps=refine_steps, seed=seed, batch_images=batch,
    ).resolved()
    _check_options(named, limit=limit, layout=layout, input_scale=input_scale, device=device,
                   gallery=gallery, baseline=baseline, alpha=alpha, wait=wait,
                   error_distance=error_distance, gate_on=gate_on)
    pixel = PixelSettings(attack=pixel_attack, norm=pixel_norm, max_eps=pixel_max,
                          queries=pixel_queries, seed=seed)
    pixel.validate()
    error_images = parse_error_images(search_error, OptionError)
    cluster = _cluster(named, workers, ray)
    options = ModelOptions(input_scale=input_scale, normalize=_floats(normalize), layout=layout,
                           device=device, class_names=parse_class_names(class_names, named))
    wanted = parse_formats(formats if isinstance(formats, str) else ",".join(formats))
    return ScanConfig(
        generator=generator, search=settings, pixel=pixel, models=options,
        errors=ErrorSettings(error_distance, error_images),
        gate=GateSettings(baseline, alpha, gate_on),
        outputs=OutputSettings(None if out is None else Path(out), wanted, resume, force, wait,
                               gallery),
        limit=limit, device=device, cluster=cluster)


def parse_class_names(value: Any, named: Mapping[str, Any]
                      ) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``--class-names``: ``MODEL=NAME0,NAME1,...`` (repeatable), or ``NAME0,NAME1,...`` with
    one model; from Python also a mapping model -> names, or one list of names."""
    if not value:
        return ()
    if isinstance(value, Mapping):
        items = [(str(k), list(v)) for k, v in value.items()]
    elif isinstance(value, str) or (isinstance(value, (list, tuple))
                                    and all(isinstance(v, str) and "=" in v for v in value)):
        items = []
        for entry in [value] if isinstance(value, str) else value:
            model, _, names = entry.rpartition("=")
            items.append((model.strip(), [n for n in names.split(",")]))
    else:
        items = [("", list(value))]
    out = []
    for model, names in items:
        names = [str(n).strip() for n in names]
        if not model:
            if len(named) != 1:
                raise OptionError("--class-names: name the model, MODEL=NAME0,NAME1,... (the scan "
                                  f"has {len(named)} models: {', '.join(named)})")
            model = next(iter(named))
        if model not in named:
            raise OptionError(f"--class-names: no model named {model!r}; the models are "
                              f"{', '.join(named)}")
        if len(names) < 2 or not all(names) or len(set(n.lower() for n in names)) != len(names):
            raise OptionError(f"--class-names {model}=...: expected two or more distinct "
                              "comma-separated names, in the order of the model's labels 0, 1, ...")
        out.append((model, tuple(names)))
    return tuple(out)


def named_models(models: Any, unique_names: Callable) -> dict[str, Any]:
    """``auditor.scan``'s ``models`` as a mapping name -> model (names from files or functions;
    a (transformers model, tokenizer) pair is one model)."""
    if _model_pair(models):
        models = [models]
    if isinstance(models, Mapping):
        named = {str(k): v for k, v in models.items()}
    elif isinstance(models, (list, tuple)):
        named = dict(zip(unique_names(list(models)), models))
    else:
        named = dict(zip(unique_names([models]), [models]))
    if not named:
        raise OptionError("no model to audit: pass one or more model files or models")
    for name, model in named.items():
        if isinstance(model, (str, os.PathLike)) and not Path(model).exists():
            raise OptionError(f"model file {str(model)!r} does not exist")
        if not name:
            raise OptionError("model names must not be empty")
    return named


def _model_pair(models: Any) -> bool:
    return (isinstance(models, tuple) and len(models) == 2
            and all(type(m).__module__.split(".")[0] == "transformers" for m in models))


def _cluster(named: Mapping[str, Any], workers: int | None,
             ray: str | None) -> ClusterSettings | None:
    if workers is not None and workers < 1:
        raise OptionError(f"--workers must be 1 or more, got {workers}")
    if workers is None and ray is None:
        return None
    from .distributed import require_ray

    require_ray()
    memory = [name for name, m in named.items() if not isinstance(m, (str, os.PathLike))]
    if memory:
        raise OptionError(f"--workers/--ray send model files to the workers; {', '.join(memory)} "
                          "is in memory: save it (ONNX or TorchScript) and pass its path")
    return ClusterSettings(workers, ray) if workers or ray else None


def _floats(value: str | Sequence[float] | None) -> tuple[float, ...] | None:
    if value is None or not isinstance(value, str):
        return None if value is None else tuple(float(v) for v in value)
    try:
        return tuple(float(v) for v in value.split(","))
    except ValueError:
        raise OptionError(f"--normalize expects comma-separated numbers, got {value!r}") from None


def _check_options(named, *, limit, layout, input_scale, device, gallery, baseline, alpha, wait,
                   error_distance, gate_on) -> None:
    from .models import LAYOUTS

    if limit is not None and limit <= 0:
        raise OptionError(f"--limit must be positive, got {limit}")
    if layout is not None and layout not in LAYOUTS:
        raise OptionError(f"--layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if not input_scale > 0:
        raise OptionError(f"--input-scale must be positive, got {input_scale}")
    if device not in (None, "cpu", "cuda"):
        raise OptionError(f"--device must be cpu or cuda, got {device!r}")
    if gallery < 0:
        raise OptionError(f"--gallery must be 0 or more, got {gallery}")
    if baseline is not None and (baseline not in named or len(named) < 2):
        raise OptionError(f"--baseline {baseline!r} must name one of two or more scanned models: "
                          f"{', '.join(named)}")
    if not 0 < alpha < 1:
        raise OptionError(f"--alpha must be between 0 and 1, got {alpha}")
    if not wait >= 0:
        raise OptionError(f"--wait must be 0 or more seconds, got {wait}")
    if error_distance not in ("auto", "on", "off"):
        raise OptionError(f"--error-distance must be auto, on or off, got {error_distance!r}")
    if gate_on not in ("dz", "error-distance"):
        raise OptionError(f"--gate-on must be dz or error-distance, got {gate_on!r}")
    if gate_on == "error-distance" and error_distance == "off":
        raise OptionError("--gate-on error-distance needs the error distance: drop "
                          "--error-distance off")
