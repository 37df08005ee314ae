"""`auditor scan`: options -> :func:`auditor.scan` -> the summary tables, the gate's verdict and
the exit code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from ..errors import AuditorError, Interrupted, OptionError, OutputError
from .common import (EXIT_GATE, EXIT_INTERRUPTED, EXIT_OUTPUTS, console, fail, internal_error,
                     out_console, output_failed)


def scan(
    paths: Annotated[
        list[Path],
        typer.Argument(help="One or more models (.onnx, TorchScript .pt, Hugging Face model "
                            "folders), then the inputs (an image folder, or a text file).",
                       show_default=False),
    ],
    out: Annotated[Path, typer.Option("--out", "-o",
        help="Folder for results.json and index.html.")] = Path("auditor-report"),
    generator: Annotated[str, typer.Option("--generator", "-g",
        help="auto (the bundled generator that fits the images best), a bundled generator's "
             "name, or a bundle folder.")] = "auto",
    search_name: Annotated[str, typer.Option("--search",
        help="auto (default: margin on images, local on text), boundary (walks the decision "
             "boundary by labels), margin (the same walk steered by class scores where a model "
             "gives them; forests and label-only models by pooled probes), "
             "local, hybrid (the paper's Algorithm 2) or iterative (Algorithm 1).")
    ] = "auto",
    seed: Annotated[int, typer.Option(
        help="Random seed: the same seed gives the same results.")] = 0,
    limit: Annotated[Optional[int], typer.Option(
        help="Audit only the first N images (sorted by path).")] = None,
    samples: Annotated[Optional[int], typer.Option(
        help="N: perturbations per image and step (boundary, local 8; hybrid, iterative 250).",
        show_default=False)] = None,
    step: Annotated[Optional[float], typer.Option(
        help="Δr: precision of Δz, the shell width of hybrid and iterative (boundary, local "
             "0.005; hybrid, iterative 0.1).", show_default=False)] = None,
    max_radius: Annotated[Optional[float], typer.Option("--max-radius",
        help="No flip within this Δz: the image is censored. Default 2·sqrt(latent size): 8 "
             "for the grayscale bundles, 16 for cifar10.", show_default=False)] = None,
    patience: Annotated[int, typer.Option(
        help="B: consecutive misses that end the hybrid or local search.")] = 3,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps",
        help="Search steps per image at most (boundary 36, 46 for latent sizes over 32; margin "
             "the same, its walk of a forest, tree, kNN or label-only model twice that; local "
             "60; hybrid, "
             "iterative 200).",
        show_default=False)] = None,
    refine_steps: Annotated[int, typer.Option("--refine-steps",
        help="Gradient steps refining z0 = I(x) on ||G(z) - x||.")] = 50,
    class_names: Annotated[Optional[list[str]], typer.Option("--class-names",
        help="A model's class names in the order of its labels, MODEL=NAME0,NAME1,... "
             "(repeatable; NAME0,NAME1,... with one model): where its own are generic "
             "(LABEL_0, ...) or absent, so that the reference classifier's figures apply.")
    ] = None,
    normalize: Annotated[Optional[str], typer.Option(
        help="MEAN,STD (or per-channel means then stds) the models expect.")] = None,
    input_scale: Annotated[float, typer.Option("--input-scale",
        help="Multiply [0, 1] pixels by this (255 for 0..255 models).")] = 1.0,
    layout: Annotated[Optional[str], typer.Option(
        help="Force the input layout: nchw, nhwc, nhw or flat.")] = None,
    gallery: Annotated[int, typer.Option(help="Images in the report's gallery.")] = 12,
    device: Annotated[Optional[str], typer.Option(
        help="cpu or cuda; default cuda when a GPU is present.")] = None,
    batch: Annotated[Optional[int], typer.Option(
        help="Images searched together (default: from memory bounds).")] = None,
    formats: Annotated[str, typer.Option("--format",
        help="Outputs: any of html (index.html), pdf (report.pdf), md (model-card.md), json "
             "(results.json; always written while scanning).")] = "html,pdf,md,json",
    resume: Annotated[bool, typer.Option("--resume",
        help="Continue an interrupted scan in --out.")] = False,
    force: Annotated[bool, typer.Option("--force",
        help="Overwrite results of a different scan in --out.")] = False,
    wait: Annotated[float, typer.Option("--wait",
        help="Seconds to wait while another auditor process writes into --out (default: stop at "
             "once).")] = 0.0,
    baseline: Annotated[Optional[str], typer.Option(
        help="Name (file stem) of the baseline model the others are tested against.")] = None,
    fail_if_worse: Annotated[bool, typer.Option("--fail-if-worse",
        help="Exit 1 when a candidate is significantly less robust than --baseline.")] = False,
    alpha: Annotated[float, typer.Option(
        help="Significance level of the gate and the ranking.")] = 0.05,
    gate_on: Annotated[str, typer.Option("--gate-on",
        help="What --fail-if-worse compares: dz (robustness) or error-distance (natural errors; "
             "needs the generator's reference classifier).")] = "dz",
    pixel_attack: Annotated[str, typer.Option("--pixel-attack",
        help="Also measure pixel-space robustness (eps): auto (fmn when every model gives "
             "gradients, else nattack when every model gives scores, else hsj for all), fmn "
             "(Fast Minimum-Norm, white box: TorchScript and torch modules), deepfool (white "
             "box), nattack (scores), hsj (HopSkipJump, labels only) or none.")] = "none",
    pixel_norm: Annotated[str, typer.Option("--pixel-norm",
        help="Norm of eps: l2 or linf.")] = "l2",
    pixel_max: Annotated[Optional[float], typer.Option("--pixel-max",
        help="No pixel adversary within this eps: the image is censored (default l2 10, linf "
             "0.5).", show_default=False)] = None,
    pixel_queries: Annotated[int, typer.Option("--pixel-queries",
        help="Pixel attack's budget per image and model: classifier queries (nattack, hsj) or "
             "forward and backward passes (fmn, deepfool).")] = 2000,
    search_error: Annotated[str, typer.Option("--search-error",
        help="Estimate how far above the best adversary the search stops, per model, with a long "
             "search on N images: auto (20, within 15% of the scan's queries, from 160 images; "
             "400 texts), off, or N.")] = "auto",
    workers: Annotated[Optional[int], typer.Option("--workers",
        help="Search on a local Ray cluster of N worker processes (needs auditor[ray]); same "
             "results.", show_default=False)] = None,
    ray_address: Annotated[Optional[str], typer.Option("--ray",
        help="Search on the Ray cluster at ADDRESS (auto: a running one).",
        show_default=False)] = None,
    error_distance: Annotated[str, typer.Option("--error-distance",
        help="Also search the distance to the nearest natural error (the model disagrees with "
             "the generator's reference classifier): auto (when the generator ships one, unless "
             "its bundle skips it by default, as cifar10 does), on, off (no reference figures at "
             "all). Doubles the search.")] = "auto",
) -> None:


    """Audit one or more models on a folder of unlabeled images."""
    import signal

    from .. import scanning
    from ..config import build_config, named_models
    from ..models import unique_names
    from ..progress import ProgressBar
    from .terminal_summary import print_summary

    def terminate(signum, frame):  # a kill ends the scan like Ctrl-C: partial results kept
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    missing = None
    try:
        if len(paths) < 2:
            raise OptionError("expected one or more model files followed by an image folder, e.g. "
                              "`auditor scan model.onnx images/`")
        *model_paths, data_path = paths
        if fail_if_worse and baseline is None:
            raise OptionError("--fail-if-worse needs --baseline NAME (the file stem of the "
                              "baseline model)")
        named = named_models(model_paths, unique_names)
        config = build_config(
            named, out=out, formats=formats, generator=generator,
            search=search_name, seed=seed, limit=limit, samples=samples, step=step,
            max_radius=max_radius, patience=patience, max_steps=max_steps,
            refine_steps=refine_steps, normalize=normalize, input_scale=input_scale,
            layout=layout, gallery=gallery, device=device, batch=batch, resume=resume,
            force=force, wait=wait, baseline=baseline, alpha=alpha, gate_on=gate_on,
            error_distance=error_distance, pixel_attack=pixel_attack, pixel_norm=pixel_norm,
            pixel_max=pixel_max, pixel_queries=pixel_queries, search_error=search_error,
            workers=workers, ray=ray_address, class_names=class_names,
        )
        audit = scanning.run(config, named, data_path, progress=ProgressBar)
    except OutputError as err:
        if err.audit is None:
            fail(err)
        audit, missing = err.audit, err
    except Interrupted as stop:
        console.print(f"[bold yellow]interrupted:[/] {escape(str(stop))}", soft_wrap=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except AuditorError as err:
        fail(err)
    except Exception as err:  # a bug: never exit 1, which a CI reads as "the gate failed"
        internal_error(err)
    finally:
        signal.signal(signal.SIGTERM, previous)
    print_summary(audit)
    gate = audit.release_gate
    if gate:
        for check in gate.checks:
            colour = "red" if check.failed else "green"
            verdict = "FAILED" if check.failed else "passed"
            out_console.print(f"[{colour}]gate {verdict}:[/] {escape(check.reason)}")
    if missing is not None:
        output_failed(missing, out / "results.json")
    if gate and fail_if_worse and gate.failed:
        # the gate's verdict comes first: a worse candidate must block a release
        raise typer.Exit(EXIT_GATE)
    if missing is not None:
        raise typer.Exit(EXIT_OUTPUTS)
