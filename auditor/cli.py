"""The command line: options -> a config -> one call into the library -> print.

Only this module prints or exits. Library errors (:class:`AuditorError`) become one red
line and exit code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from . import __version__
from .errors import AuditorError, Interrupted, OptionError, OutputError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Audit image classifiers for robustness without labels, by natural adversaries.",
)
console = Console(stderr=True, highlight=False)
out_console = Console(highlight=False)
_state = {"debug": False}

EXIT_GATE = 1  # the release gate failed: a candidate is significantly less robust (and nothing else)
EXIT_ERROR = 2  # bad input or options
EXIT_OUTPUTS = 3  # an output could not be written (disk full, read-only, PDF renderer); the line says what is safe
EXIT_LOCKED = 4  # --out is in use by another auditor process
EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70  # an unexpected error: a bug (EX_SOFTWARE)


def _version(value: bool) -> None:
    if value:
        out_console.print(f"auditor {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    _state["debug"] = debug
    _steady_heap()
    _show_library_messages()


class _ConsoleHandler(logging.Handler):
    """The library's notes and warnings (the ``auditor`` logger), one line each on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        text = escape(record.getMessage())
        console.print(f"[bold yellow]warning:[/] {text}" if record.levelno >= logging.WARNING else text, soft_wrap=True)


def _show_library_messages() -> None:
    logger = logging.getLogger("auditor")
    if not any(isinstance(h, _ConsoleHandler) for h in logger.handlers):
        logger.addHandler(_ConsoleHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _steady_heap() -> None:
    """Keep a long scan's memory flat (glibc only; elsewhere a no-op).

    A scan allocates and frees the same arrays every step. glibc raises its mmap threshold
    each time such an array is freed, after which arrays of up to 32 MB come from the heap,
    which fragments and grows with the scan's length. A fixed threshold keeps arrays of
    256 KB and more in mappings returned to the system when freed. Measured by
    bench/memory.sh: 1,000 / 10,000 images peaked at 518 / 647 MB before, 482 / 533 MB after
    (the rest of the difference is the 10,000 images' pixels, 31 MB, and their results).
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 256 << 10)  # M_MMAP_THRESHOLD: 256 KB
    except (OSError, AttributeError):
        pass


def fail(err: BaseException) -> None:
    """Print one line for a library error and exit with its code; with --debug, re-raise."""
    from .files import LockedError

    if _state["debug"]:
        raise err
    console.print(f"[bold red]error:[/] {escape(str(err))}", soft_wrap=True, markup=True)
    code = EXIT_LOCKED if isinstance(err, LockedError) else EXIT_OUTPUTS if isinstance(err, OutputError) else EXIT_ERROR
    raise typer.Exit(code)


def internal_error(err: Exception) -> None:
    """One line for an unexpected exception (a bug), exit 70; with --debug, the traceback."""
    if isinstance(err, (typer.Exit, typer.Abort)) or _state["debug"]:
        raise err
    from .errors import first_line

    console.print(f"[bold red]internal error:[/] {type(err).__name__}: {first_line(err)} (a bug in auditor: "
                  "please report it with the output of `auditor --debug ...` and `auditor doctor`)", soft_wrap=True)
    raise typer.Exit(EXIT_INTERNAL)


@app.command("train-generator")
def train_generator(
    data: Annotated[Path, typer.Argument(help="Folder (or .npz/.npy file) of unlabeled images.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the bundle into.")],
    name: Annotated[Optional[str], typer.Option(help="Generator name; default the folder name.")] = None,
    size: Annotated[int, typer.Option(help="Image side in pixels (28, 32 or 64).")] = 28,
    channels: Annotated[int, typer.Option(help="1 (grayscale) or 3 (RGB).")] = 1,
    latent_dim: Annotated[int, typer.Option("--latent-dim", help="Latent size d.")] = 16,
    family: Annotated[str, typer.Option(help="conv (convolutional VAE) or mlp (fully connected VAE).")] = "conv",
    hidden: Annotated[Optional[str], typer.Option(help="conv: channels of the stride-2 layers (default 32,64; 32,64,128 at 64 px); mlp: layer widths (default 512,512).", show_default=False)] = None,
    steps: Annotated[int, typer.Option(help="Optimiser steps.")] = 30_000,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per step.")] = 128,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
    beta: Annotated[float, typer.Option(help="Weight of the VAE's KL term (lower: sharper reconstructions, less regular latent space).")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for torch.")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT's checkpoint.")] = False,
    class_names: Annotated[Optional[str], typer.Option("--class-names", help="Names of labels 0, 1, ..., comma-separated (for the reference classifier trained where the data has labels).")] = None,
    labels: Annotated[str, typer.Option("--labels", help="Labels for a reference classifier: auto (an .npz's labels array), folders (one sub-folder of DATA per class), none.")] = "auto",
    reference_steps: Annotated[int, typer.Option("--reference-steps", help="Optimiser steps of the reference classifier.")] = 5000,
) -> None:
    """Train a generator + inverter (a convolutional or fully connected VAE) for your own image domain."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from .data import conversion_rule, folder_labels, load_images
    from .train import TrainConfig, train_vae

    try:
        if size not in (28, 32, 64) or channels not in (1, 3):
            raise OptionError(f"--size must be 28, 32 or 64 and --channels 1 or 3, got {size}, {channels}")
        if family not in ("conv", "mlp"):
            raise OptionError(f"--family must be conv or mlp, got {family!r}")
        if hidden is None:
            hidden = "512,512" if family == "mlp" else "32,64,128" if size == 64 else "32,64"
        try:
            widths = [int(v) for v in hidden.split(",")]
        except ValueError:
            raise OptionError(f"--hidden expects comma-separated integers, got {hidden!r}") from None
        config = TrainConfig(
            latent_dim=latent_dim, hidden=widths, family=f"vae-{family}", steps=steps, batch_size=batch_size,
            lr=lr, beta=beta, seed=seed, threads=threads, device=device, reference_steps=reference_steps,
        )
        config.validate()
        shape = (channels, size, size)
        if labels not in ("auto", "folders", "none"):
            raise OptionError(f"--labels must be auto, folders or none, got {labels!r}")
        images = load_images(data, shape)
        names = [v.strip() for v in class_names.split(",")] if class_names else images.class_names
        if labels == "none":
            images.labels = None
        elif labels == "folders":
            images.labels, classes = folder_labels(images.names)
            names = names or classes
        if names and images.labels is not None and len(names) <= int(images.labels.max()):
            raise OptionError(f"--class-names gives {len(names)} names for labels 0..{int(images.labels.max())}: "
                              "give one name per class")
        console.print(f"{len(images.names)} images; {conversion_rule(shape)}")
        console.print(f"family {family}: a {'convolutional' if family == 'conv' else 'fully connected'} VAE, "
                      f"{'channels' if family == 'conv' else 'widths'} {hidden}, latent size {latent_dim}", soft_wrap=True)
        _warn_skipped(images.skipped)
        _note_ignored(images.ignored)
        command = "auditor train-generator " + " ".join(sys.argv[2:])
        manifest = {
            "name": name or out.resolve().name,
            "description": f"{'convolutional' if family == 'conv' else 'MLP'} VAE trained on {len(images.names)} images from {data.name}",
            "training": {"data": str(data), "n_images": len(images.names), "command": command},
        }
        with Progress(
            TextColumn("training"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[losses]}"), TimeRemainingColumn(), console=console,
        ) as progress:
            task = progress.add_task("train", total=steps, losses="")

            def on_step(step: int, losses: dict[str, float]) -> None:
                if step % 50 == 0 or step == steps:
                    text = " ".join(f"{k} {v:.2f}" for k, v in losses.items())
                    progress.update(task, completed=step, losses=text)

            if images.labels is not None:
                console.print(f"labels found ({len(set(images.labels.tolist()))} classes): a reference classifier is "
                              f"trained too ({config.reference_steps} steps)", soft_wrap=True)
            bundle = train_vae(images.images, out, config, manifest, resume=resume, on_step=on_step,
                               labels=images.labels, class_names=names)
    except AuditorError as err:
        fail(err)
    from .generators import read_manifest

    record = read_manifest(bundle).get("reference_classifier")
    if record and "accuracy" in record:
        out_console.print(f"reference classifier: accuracy {100 * record['accuracy']:.1f}% on {record['n_images']} "
                          "held-out images")
    out_console.print(f"generator written to {bundle}; use it with --generator {bundle}")


@app.command()
def scan(
    paths: Annotated[
        list[Path],
        typer.Argument(help="One or more model files (.onnx, TorchScript .pt), then the image folder.", show_default=False),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for results.json and index.html.")] = Path("auditor-report"),
    generator: Annotated[str, typer.Option("--generator", "-g", help="auto (the bundled generator that fits the images best), a bundled generator's name, or a bundle folder.")] = "auto",
    search_name: Annotated[str, typer.Option("--search", help="local (default, fastest), hybrid (the paper's Algorithm 2) or iterative (Algorithm 1).")] = "local",
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same results.")] = 0,
    limit: Annotated[Optional[int], typer.Option(help="Audit only the first N images (sorted by path).")] = None,
    samples: Annotated[Optional[int], typer.Option(help="N: perturbations per image and step (local 8; hybrid, iterative 250).", show_default=False)] = None,
    step: Annotated[Optional[float], typer.Option(help="Δr: precision of Δz, the shell width of hybrid and iterative (local 0.005; hybrid, iterative 0.1).", show_default=False)] = None,
    max_radius: Annotated[Optional[float], typer.Option("--max-radius", help="No flip within this Δz: the image is censored. Default 2·sqrt(latent size): 8 for the grayscale bundles, 16 for cifar10.", show_default=False)] = None,
    patience: Annotated[int, typer.Option(help="B: consecutive misses that end the hybrid or local search.")] = 3,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", help="Search steps per image at most (local 60; hybrid, iterative 200).", show_default=False)] = None,
    refine_steps: Annotated[int, typer.Option("--refine-steps", help="Gradient steps refining z0 = I(x) on ||G(z) - x||.")] = 50,
    normalize: Annotated[Optional[str], typer.Option(help="MEAN,STD (or per-channel means then stds) the models expect.")] = None,
    input_scale: Annotated[float, typer.Option("--input-scale", help="Multiply [0, 1] pixels by this (255 for 0..255 models).")] = 1.0,
    layout: Annotated[Optional[str], typer.Option(help="Force the input layout: nchw, nhwc, nhw or flat.")] = None,
    gallery: Annotated[int, typer.Option(help="Images in the report's gallery.")] = 12,
    device: Annotated[Optional[str], typer.Option(help="cpu or cuda; default cuda when a GPU is present.")] = None,
    batch: Annotated[Optional[int], typer.Option(help="Images searched together (default: from memory bounds).")] = None,
    formats: Annotated[str, typer.Option("--format", help="Outputs: any of html (index.html), pdf (report.pdf), md (model-card.md), json (results.json; always written while scanning).")] = "html,pdf,md,json",
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted scan in --out.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite results of a different scan in --out.")] = False,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait while another auditor process writes into --out (default: stop at once).")] = 0.0,
    baseline: Annotated[Optional[str], typer.Option(help="Name (file stem) of the baseline model the others are tested against.")] = None,
    fail_if_worse: Annotated[bool, typer.Option("--fail-if-worse", help="Exit 1 when a candidate is significantly less robust than --baseline.")] = False,
    alpha: Annotated[float, typer.Option(help="Significance level of the gate and the ranking.")] = 0.05,
    gate_on: Annotated[str, typer.Option("--gate-on", help="What --fail-if-worse compares: dz (robustness) or error-distance (natural errors; needs the generator's reference classifier).")] = "dz",
    pixel_attack: Annotated[str, typer.Option("--pixel-attack", help="Also measure pixel-space robustness (eps): auto (fmn when every model gives gradients, else nattack when every model gives scores, else hsj for all), fmn (Fast Minimum-Norm, white box: TorchScript and torch modules), deepfool (white box), nattack (scores), hsj (HopSkipJump, labels only) or none.")] = "none",
    pixel_norm: Annotated[str, typer.Option("--pixel-norm", help="Norm of eps: l2 or linf.")] = "l2",
    pixel_max: Annotated[Optional[float], typer.Option("--pixel-max", help="No pixel adversary within this eps: the image is censored (default l2 10, linf 0.5).", show_default=False)] = None,
    pixel_queries: Annotated[int, typer.Option("--pixel-queries", help="Pixel attack's budget per image and model: classifier queries (nattack, hsj) or forward and backward passes (fmn, deepfool).")] = 2000,
    search_error: Annotated[str, typer.Option("--search-error", help="Estimate how far above the best adversary the search stops, per model, with a long search on N images: auto (from 200 images: n/25, at most 20, stopping once the long search has spent 15% of the scan's queries), off, or N.")] = "auto",
    workers: Annotated[Optional[int], typer.Option("--workers", help="Search on a local Ray cluster of N worker processes (needs auditor[ray]); same results.", show_default=False)] = None,
    ray_address: Annotated[Optional[str], typer.Option("--ray", help="Search on the Ray cluster at ADDRESS (auto: a running one).", show_default=False)] = None,
    error_distance: Annotated[str, typer.Option("--error-distance", help="Also search the distance to the nearest natural error (the model disagrees with the generator's reference classifier): auto (when the generator ships one, unless its bundle skips it by default, as cifar10 does), on, off (no reference figures at all). Doubles the search.")] = "auto",
) -> None:
    """Audit one or more models on a folder of unlabeled images."""
    import signal

    from . import scanning

    def terminate(signum, frame):  # a kill ends the scan like Ctrl-C: partial results are kept
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    missing = None
    try:
        if len(paths) < 2:
            raise OptionError("expected one or more model files followed by an image folder, e.g. "
                              "`auditor scan model.onnx images/`")
        *model_paths, data_path = paths
        if fail_if_worse and baseline is None:
            raise OptionError("--fail-if-worse needs --baseline NAME (the file stem of the baseline model)")
        audit = scanning.scan(
            model_paths, data_path, out=out, formats=formats, generator=generator, search=search_name, seed=seed,
            limit=limit, samples=samples, step=step, max_radius=max_radius, patience=patience, max_steps=max_steps,
            refine_steps=refine_steps, normalize=normalize, input_scale=input_scale, layout=layout, gallery=gallery,
            device=device, batch=batch, resume=resume, force=force, wait=wait, baseline=baseline, alpha=alpha,
            gate_on=gate_on, error_distance=error_distance, pixel_attack=pixel_attack, pixel_norm=pixel_norm,
            pixel_max=pixel_max, pixel_queries=pixel_queries, search_error=search_error, workers=workers,
            ray=ray_address,
        )
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
    result = audit.to_dict()
    _print_summary(result, audit.written)
    gate = result.get("gate")
    if gate:
        for check in gate["checks"]:
            colour = "red" if check["failed"] else "green"
            out_console.print(f"[{colour}]gate {'FAILED' if check['failed'] else 'passed'}:[/] {escape(check['reason'])}")
    if missing is not None:
        _output_failed(missing, out / "results.json")
    if gate and fail_if_worse and gate["failed"]:
        raise typer.Exit(EXIT_GATE)  # the gate's verdict comes first: a worse candidate must block a release
    if missing is not None:
        raise typer.Exit(EXIT_OUTPUTS)


def _output_failed(err: OutputError, results_file: Path | None) -> None:
    """One line for outputs that could not be written, saying what is safe and how to redo the rest."""
    if _state["debug"]:
        raise err
    safe = f"; {results_file} is complete: `auditor report {results_file}` redraws the rest" if results_file else ""
    console.print(f"[bold red]error:[/] {escape(str(err))}{escape(safe)}", soft_wrap=True, markup=True)


PAIRS_LISTED = 6  # models up to which every pairwise sign test is printed


def _print_summary(res: dict, written: list[Path]) -> None:
    from rich.table import Table

    def fmt(v, digits=2):
        return "–" if v is None else f"{v:.{digits}f}"

    from .report import FEW_IMAGES, overlap, ranked

    several = len(res["models"]) > 1
    ties = overlap(res) if several else None
    table = Table(title="Natural-adversary distance Δz (larger = more robust)", title_justify="left")
    columns = ["model", "images", "mean Δz", "median Δz", "censored", "recon. agrees", "queries/img"]
    letters = several and ties["kind"] == "letters"  # else too wide for a terminal: the report lists the ties
    if several:
        columns += ["rank [95% CI]"] + (["group"] if letters else [])
    for col in columns:
        table.add_column(col, justify="left" if col in ("model", "group") else "right")
    order = ranked(res)
    by_name = {m["name"]: m for m in res["models"]}
    for name in order:
        m = by_name[name]
        row = [m["name"] + (" (degenerate)" if m.get("degenerate") else ""), str(m["n_images"]),
               fmt(m["mean_delta_z"]), fmt(m["median_delta_z"]), str(m["n_censored"]),
               f"{100 * m['reconstruction_agreement']:.1f}%", fmt(m["queries_per_image"], 0)]
        if several:
            ci = m.get("rank_ci")
            row += [f"{m.get('rank') or '–'}" + (f" [{ci[0]}–{ci[1]}]" if ci else "")] + ([ties["values"][name]] if letters else [])
        table.add_row(*row)
    out_console.print(table)
    _print_search_error(res, order)
    _print_naturalness(res, order)
    _print_consensus(res, order)
    _print_errors(res, order)
    _print_pixel(res)
    out_console.print(trust_line(res), soft_wrap=True)
    if several:
        def pfmt(v):
            return "–" if v is None else f"{v:.2g}"

        alpha = res.get("alpha", 0.05)
        if len(res["models"]) <= PAIRS_LISTED:
            for p in res["pairwise"]:
                out_console.print(f"sign test {p['a']} vs {p['b']}: {p['a_larger']} vs {p['b_larger']} images larger, "
                                  f"{p['ties']} ties, p = {pfmt(p['p_value'])} (Holm-corrected {pfmt(p['p_holm'])})")
        else:
            n_sig = sum(1 for p in res["pairwise"] if p["p_holm"] is not None and p["p_holm"] < alpha)
            out_console.print(f"{len(res['pairwise'])} pairwise sign tests, {n_sig} significant at p < {alpha:g} "
                              "(Holm); each pair's counts and p-values are in the report and results.json")
        ranks = " > ".join(" = ".join(g) for g in res["ranking"])
        out_console.print(f"ranking (p < {alpha:g}, Holm): {ranks}")
        across = ("models that share a group letter are not significantly different either" if letters else
                  "which models are not significantly different across groups: the report's summary and matrix")
        out_console.print(f"  '=': not significantly different; {across}; rank intervals: paired bootstrap over images")

        if any(len(g) > 1 for g in res["ranking"]) and res["data"]["n_images"] < FEW_IMAGES:
            out_console.print(f"note: tied models may still differ: {res['data']['n_images']} images separate only "
                              f"large differences; scan {FEW_IMAGES:,} or more to compare close versions")
    out_console.print("written: " + " · ".join(str(p) for p in written))


def _print_naturalness(res: dict, order: list[str]) -> None:
    """How many natural adversaries lie outside the scanned images' domain, every scan."""
    shares = [(n, ((m.get("naturalness") or {}).get("natural") or {}).get("out_of_domain"))
              for n in order for m in res["models"] if m["name"] == n]
    shares = [(n, v) for n, v in shares if v is not None]
    if shares:
        out_console.print("natural adversaries out of domain (k-NN to the clean images): "
                          + ", ".join(f"{n} {100 * v:.0f}%" for n, v in shares), soft_wrap=True)


def _print_consensus(res: dict, order: list[str]) -> None:
    """The label-free consensus estimate of each model's accuracy (three or more models)."""
    from .report import consensus_text, underrated_text

    text = consensus_text(res, order, note=False)
    if text:
        out_console.print(text, soft_wrap=True)
    if under := underrated_text(res):
        out_console.print(f"note: {under}", soft_wrap=True)


def _print_search_error(res: dict, order: list[str]) -> None:
    from .report import search_error_text

    out_console.print(search_error_text(res, order), soft_wrap=True)


def trust_line(res: dict) -> str:
    from .report import trust

    t = trust(res)
    return f"how far to trust: {t['text']}"


def _print_errors(res: dict, order: list[str]) -> None:
    """The natural-error figures, where the generator's reference classifier R was used."""
    from rich.table import Table

    ref = res["generator"].get("reference_classifier")
    if not ref:
        return

    def pct(v):
        return "–" if v is None else f"{100 * v:.0f}%"

    accuracy = "?" if ref.get("accuracy") is None else f"{100 * ref['accuracy']:.1f}%"
    table = Table(title=f"Natural errors: judged by {res['generator']['name']}'s reference classifier (accuracy "
                        f"{accuracy}; larger distance = fewer natural errors)", title_justify="left")
    for col in ("model", "agrees with R", "error dist. mean", "median", "censored", "adversaries: kept class",
                "changed class", "f ≠ R on x"):
        table.add_column(col, justify="left" if col == "model" else "right")
    by_name = {m["name"]: m for m in res["models"]}
    for name in order:
        m = by_name[name]
        e, sem = m.get("error_distance"), m.get("semantics") or {}
        if e is None and not sem:
            table.add_row(name, pct(m.get("agreement_with_reference")), "not applicable", "", "", "", "", "")
            continue
        distance = (["skipped", "", ""] if e is None else
                    [f"{e['mean']:.2f}" if e["mean"] is not None else "–",
                     f"{e['median']:.2f}" if e["median"] is not None else "–", str(e["n_censored"])])
        table.add_row(name, pct(m.get("agreement_with_reference")), *distance,
                      pct(sem.get("kept_class")), pct(sem.get("changed_class")), pct(sem.get("disagrees_with_reference")))
    out_console.print(table)
    if len(res.get("error_ranking") or []) > 1 or sum(map(len, res.get("error_ranking") or [])) > 1:
        ranks = " > ".join(" = ".join(g) for g in res["error_ranking"])
        out_console.print(f"ranking by natural-error distance (p < {res.get('alpha', 0.05):g}, Holm): {ranks}")


def _print_pixel(res: dict) -> None:
    """The pixel-space view, where the scan ran a pixel attack."""
    from rich.table import Table

    px = res.get("pixel")
    if not px:
        return

    def pct(v):
        return "–" if v is None else f"{100 * v:.0f}%"

    attack = px.get("attack_name") or ("NATTACK" if px["attack"] == "nattack" else "HopSkipJump")
    paper = f" ({px['paper']})" if px.get("paper") else ""
    unit = "forward/backward passes" if px.get("budget_unit") == "passes" else "queries"
    table = Table(title=f"Pixel-space robustness ε ({px['norm'].upper()}, {attack}{paper}, {px.get('box', 'black')} box, "
                        f"{px['queries_budget']:,} {unit}; larger = more robust)", title_justify="left")
    columns = ["model", "median ε", "[95% CI]", "censored", *(f"stable {v:g}" for v in px["levels"]), "ρ(Δz, ε)"]
    for col in columns:
        table.add_column(col, justify="left" if col == "model" else "right")
    second = Table(title="Adversaries: out of domain (k-NN to the clean images, no labels), repaired by G(I(·))",
                   title_justify="left")
    for col in ("model", "natural: out of domain", "pixel: out of domain", "repaired: pixel", "natural (control)"):
        second.add_column(col, justify="left" if col == "model" else "right")
    by_name = {m["name"]: m for m in res["models"]}
    for name in [n for g in px["ranking"] for n in g]:
        p = by_name[name]["pixel"]
        ci = p.get("median_eps_ci")
        table.add_row(name, "–" if p["median_eps"] is None else f"{p['median_eps']:.3f}",
                      f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "", str(p["n_censored"]),
                      *(pct(p["stable"][f"{v:g}"]) for v in px["levels"]),
                      "–" if p.get("spearman_dz_images") is None else f"{p['spearman_dz_images']:.2f}")
        nat, rep = p.get("naturalness") or {}, p.get("repair") or {}
        second.add_row(name, pct((nat.get("natural") or {}).get("out_of_domain")),
                       pct((nat.get("pixel") or {}).get("out_of_domain")),
                       pct((rep.get("pixel") or {}).get("repaired")), pct((rep.get("natural") or {}).get("repaired")))
    out_console.print(table)
    if any(by_name[n]["pixel"].get("naturalness") for n in by_name):
        out_console.print(second)
    if len(res["models"]) > 1:
        out_console.print(f"ranking by ε (p < {res.get('alpha', 0.05):g}, Holm): "
                          + " > ".join(" = ".join(g) for g in px["ranking"]))
    if px.get("spearman_dz_models") is not None:
        out_console.print(f"the two views over models: Spearman ρ(mean Δz, mean ε) = {px['spearman_dz_models']:.2f}")


@app.command("report")
def report_command(
    results_file: Annotated[Path, typer.Argument(help="results.json written by `auditor scan`.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for index.html; default: beside results.json.")] = None,
    generator: Annotated[Optional[str], typer.Option("--generator", "-g", help="The scan's generator, if it has moved.")] = None,
    formats: Annotated[str, typer.Option("--format", help="Outputs: any of html (index.html), pdf (report.pdf), md (model-card.md).")] = "html,pdf,md",
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait while another auditor process writes into the folder.")] = 0.0,
) -> None:
    """Draw the report again from saved results, without the models."""
    from . import report
    from .audit import load
    try:
        wanted = report.parse_formats(formats)
        audit = load(results_file, generator=generator)
        res = audit.to_dict()
        if not audit.complete:
            console.print(f"[yellow]warning:[/] {escape(str(results_file))} holds an unfinished scan "
                          f"({res['progress']['done']} of {res['progress']['total']} images)")
        paths = audit.write(out or results_file.parent, tuple(f for f in wanted if f != "json") or (), wait=wait)
    except OutputError as err:
        if err.written:
            out_console.print("report: " + " · ".join(str(p) for p in err.written))
        _output_failed(err, None)
        raise typer.Exit(EXIT_OUTPUTS) from None
    except AuditorError as err:
        fail(err)
    out_console.print("report: " + " · ".join(str(p) for p in paths))


@app.command("validate-generator")
def validate_generator(
    bundle: Annotated[str, typer.Argument(help="The generator bundle folder to validate.")],
    models: Annotated[list[Path], typer.Argument(help="Three or more model files of the domain (more, and more varied, is better).", show_default=False)],
    labelled: Annotated[Path, typer.Option("--labelled", help="Labelled images of the domain: an .npz with images and labels, or --labels folders.")],
    labels: Annotated[str, typer.Option("--labels", help="auto (an .npz's labels array) or folders (one sub-folder per class).")] = "auto",
    limit: Annotated[Optional[int], typer.Option(help="Use only the first N labelled images.")] = None,
    write: Annotated[bool, typer.Option("--write/--no-write", help="Record the validation in the bundle's manifest.")] = True,
    seed: Annotated[int, typer.Option(help="Random seed of the scans.")] = 0,
) -> None:
    """Measure which of a generator's figures ranks models by accuracy, on a labelled set you have."""
    import json

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    from .data import folder_labels, load_images
    from .files import write_text
    from .generators import MANIFEST, bundled_names, load_generator, read_manifest
    from .models import ModelOptions, load_classifier, unique_names
    from .scanning import reference_for
    from .search import SearchSettings, search
    from .validation import LABELS, chosen_figure, validate

    try:
        if len(models) < 3:
            raise OptionError(f"validate-generator needs three or more models to rank, got {len(models)}")
        for path in models:
            if not path.exists():
                raise OptionError(f"model file {str(path)!r} does not exist")
        gen = load_generator(bundle)
        if write and bundle in bundled_names():
            raise OptionError(f"{bundle} is a bundled generator: validate a copy of its folder, or pass --no-write")
        data = load_images(labelled, gen.image_shape, limit)
        if labels == "folders":
            data.labels, _ = folder_labels(data.names)
        if data.labels is None:
            raise OptionError(f"no labels in {labelled}: give an .npz with an images and a labels array, or one "
                              "sub-folder per class with --labels folders")
        if len(data.names) < 20:
            raise OptionError(f"{len(data.names)} labelled images are too few to validate on; give 200 or more")
        classifiers = [load_classifier(p, n, gen.image_shape, ModelOptions()) for p, n in zip(models, unique_names(models))]
        reference, _, error_models = reference_for(gen, classifiers, data.images,
                                                  "on" if gen.reference is not None else "off")
        settings = SearchSettings(seed=seed).resolved()
        with Progress(TextColumn("validation scan"), BarColumn(), MofNCompleteColumn(), console=console) as progress:
            task = progress.add_task("scan", total=len(data.names) * (len(classifiers) + len(error_models or [])))
            out = search(gen, classifiers, data.images, settings, progress=lambda k: progress.advance(task, k),
                         reference=reference, error_models=error_models)
        record, _ = validate(classifiers, out, data.images, data.labels,
                             f"{len(classifiers)} models given to auditor validate-generator, on {labelled.name}")
        record["command"] = "auditor " + " ".join(sys.argv[1:])
        if write:
            manifest = read_manifest(gen.path)
            manifest["validation"] = record
            write_text(gen.path / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    except AuditorError as err:
        fail(err)
    table = Table(title=f"Spearman ρ with accuracy over {len(classifiers)} models (chosen on the first "
                        f"{record['n_images']['validation']} images, reported on the other {record['n_images']['test']})",
                  title_justify="left")
    for col in ("figure", "ρ, choosing half", "ρ, reported half"):
        table.add_column(col, justify="left" if col == "figure" else "right")
    for key, rho in record["spearman_test"].items():
        other = record["spearman_validation"].get(key)
        table.add_row(LABELS[key] + (" ← read as accuracy" if key == chosen_figure(record) else ""),
                      "–" if other is None else f"{other:.2f}", "–" if rho is None else f"{rho:.2f}")
    out_console.print(table)
    if len(classifiers) < 8:
        out_console.print(f"note: {len(classifiers)} models give a coarse ρ; a dozen or more, of different families and "
                          "training lengths, give one worth trusting")
    out_console.print(f"validation {'recorded in ' + str(gen.path / MANIFEST) if write else 'not recorded (--no-write)'}")


@app.command("import-generator")
def import_generator(
    decoder: Annotated[Path, typer.Option("--decoder", help="ONNX G: float32 latents (N, d) -> images (N, C, H, W) in [0, 1].")],
    encoder: Annotated[Path, typer.Option("--encoder", help="ONNX E: images (N, C, H, W) -> latents (N, d), or (N, 2d) whose first d are the mean.")],
    images: Annotated[Path, typer.Option("--images", help="Images of G's domain: checks G and E and sets the reference for the fit check.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the bundle into.")],
    name: Annotated[Optional[str], typer.Option(help="Generator name; default the folder name.")] = None,
    size: Annotated[Optional[int], typer.Option(help="Image side, where it cannot be read from G (default: G's).")] = None,
    reference: Annotated[Optional[Path], typer.Option("--reference", help="ONNX reference classifier R of G's images (scores (N, K) or labels), for the natural-error figures; measured where --images has labels.")] = None,
    reference_classes: Annotated[Optional[str], typer.Option("--reference-classes", help="R's class names, comma-separated.")] = None,
) -> None:
    """Build a generator bundle from an ONNX decoder and encoder you already have."""
    from .data import load_images
    from .importing import DECODER, _session

    try:
        g = _session(decoder, "cpu") if decoder.is_file() else None
        if g is None:
            raise OptionError(f"decoder file {str(decoder)!r} does not exist")
        shape = _decoder_shape(g, size)
        data = load_images(images, shape)
        _warn_skipped(data.skipped)
        _note_ignored(data.ignored)
        from .importing import import_onnx

        bundle = import_onnx(decoder, encoder, data.images, out, name or out.resolve().name, reference=reference,
                             class_names=[v.strip() for v in reference_classes.split(",")] if reference_classes else None,
                             labels=data.labels)
    except AuditorError as err:
        fail(err)
    from .generators import read_manifest

    ref = read_manifest(bundle)["reference"]
    out_console.print(f"generator imported into {bundle} ({DECODER} and its encoder checked on {ref['n_images']} images, "
                      f"reconstruction error {ref['recon_mse_median']:.4f}); use it with --generator {bundle}")


def _decoder_shape(session, size: int | None) -> tuple[int, int, int]:
    """G's image shape (C, H, W): decoded from one latent."""
    import numpy as np

    from .errors import GeneratorError

    inp = session.get_inputs()[0]
    if len(inp.shape) != 2 or not isinstance(inp.shape[1], int):
        raise GeneratorError(f"the decoder must take latents of shape (N, d) with a fixed d, it takes {inp.shape}")
    try:
        x = np.asarray(session.run(None, {inp.name: np.zeros((1, inp.shape[1]), np.float32)})[0])
    except Exception as err:  # ONNX Runtime's errors: a wrong input type, an op that fails
        from .errors import first_line

        raise GeneratorError(f"the decoder fails on a float32 latent of shape (1, {inp.shape[1]}) "
                             f"({first_line(err)})") from err
    if x.ndim != 4:
        raise GeneratorError(f"the decoder must give images (N, C, H, W), it gives {x.shape}")
    return (int(x.shape[1]), size or int(x.shape[2]), size or int(x.shape[3]))


@app.command()
def generators(
    extra: Annotated[Optional[list[Path]], typer.Argument(help="Bundle folders to list beside the bundled ones.")] = None,
) -> None:
    """List the bundled generators (and given bundle folders): domain, latent size, quality."""
    from rich.table import Table

    from .generators import bundled_names, read_manifest, resolve

    try:
        bundles = [resolve(n) for n in bundled_names()] + [resolve(str(p)) for p in extra or []]
        table = Table(title="Generators", title_justify="left")
        for col in ("name", "family", "domain (C×H×W)", "latent", "trained on", "reconstruction MSE",
                    "label preservation", "reference classifier", "validated: read as accuracy"):
            table.add_column(col)
        for bundle in bundles:
            m = read_manifest(bundle)
            q = m.get("quality", {})
            pres = q.get("label_preservation")
            ref = m.get("reference_classifier")
            table.add_row(
                m["name"] if bundle.parent.name == "generators" else str(bundle), m["family"].removeprefix("vae-"),
                *(_text_columns(m) if "image_shape" not in m else (
                    "×".join(map(str, m["image_shape"])), str(m["latent_dim"]),
                    f"{m.get('training', {}).get('n_images', '?')} images",
                    f"{m.get('reference', {}).get('recon_mse_mean', float('nan')):.4f}",
                    "–" if pres is None else f"{100 * pres['raw']:.1f}% raw, {100 * pres['refined']:.1f}% refined"
                    if m.get("decoding", "plain") == "plain" else
                    f"100% ({m['decoding']} decoding; plain decode {100 * pres['refined']:.1f}%)")),
                "none" if not ref else f"{len(ref['class_names'])} classes, accuracy "
                f"{100 * ref['accuracy']:.1f}% on {ref['n_images']}" if "accuracy" in ref else "yes",
                _validated(m.get("validation")),
            )
    except AuditorError as err:
        fail(err)
    out_console.print(table)


def _text_columns(m: dict) -> tuple[str, ...]:
    """A text bundle's row: its domain, latent size, data and reconstruction quality."""
    q = m.get("quality", {})
    exact, tokens = q.get("exact_match"), q.get("token_accuracy")
    return ("text (sentences, pairs)", str(m["latent_dim"]),
            f"{m.get('training', {}).get('counts', {}).get('train_sentences', '?')} sentences",
            "–" if exact is None else f"{100 * exact:.0f}% exact, {100 * (tokens or 0):.0f}% of words",
            f"100% ({m.get('decoding', 'edit-preserving')} decoding)")


@app.command()
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON (for bug reports and scripts).")] = False,
) -> None:
    """Check what this machine can do: Python, torch, ONNX Runtime, the PDF renderer, fonts, generators.

    Exits 0 when a default scan will work, 1 (with the fix) when not.
    """
    import json

    from rich.table import Table

    from . import doctor as doctor_mod

    report = doctor_mod.run()
    if as_json:
        out_console.print_json(json.dumps(report))
    else:
        table = Table(title=f"auditor doctor · {report['platform']}", title_justify="left", show_lines=False)
        for col in ("check", "", "detail"):
            table.add_column(col, overflow="fold")
        for c in report["checks"]:
            mark = "[green]ok[/]" if c["ok"] else ("[red]FAIL[/]" if c["required"] else "[yellow]warn[/]")
            table.add_row(c["name"], mark, c["detail"])
        out_console.print(table)
        for c in report["checks"]:
            if c["fix"]:
                out_console.print(f"{'fix' if not c['ok'] else 'tip'} ({c['name']}): {c['fix']}", soft_wrap=True)
        out_console.print("[green]a default scan will work[/]" if report["ok"] else
                          "[red]a default scan will not work:[/] apply the fixes above")
    if not report["ok"]:
        raise typer.Exit(1)


def _validated(record: dict | None) -> str:
    if not record:
        return "not validated"
    from .report import FIGURE_NAMES, format_rho as _rho
    from .validation import chosen_figure

    chosen = chosen_figure(record)
    rho = (record.get("spearman_test") or {}).get(chosen)
    return f"{FIGURE_NAMES.get(chosen, chosen)} (ρ {_rho(rho)}, {record.get('n_models')} models)" if rho is not None else "?"


def _note_ignored(ignored: list[tuple[str, str]]) -> None:
    from .data import ignored_message

    if ignored:
        console.print(ignored_message(ignored), soft_wrap=True, markup=False)


def _warn_skipped(skipped: list[tuple[str, str]]) -> None:
    from .data import skipped_message

    if skipped:
        console.print(f"[yellow]warning:[/] {escape(skipped_message(skipped))}", soft_wrap=True)


if __name__ == "__main__":
    app()
