"""A searched scan's last steps: its figures beside Δz (naturalness, the pixel view's extras),
the results document completed with what the report needs from the inputs and the models
(the gallery's originals, the strips), results.json, and the report files; and ``--resume`` of a
finished scan, which redraws them without searching."""

from __future__ import annotations

import logging
from pathlib import Path

from .audit import Audit
from .checkpoint import NPZ, npz_record
from .errors import AuditorError, Interrupted, OutputError
from .files import write_bytes

log = logging.getLogger("auditor")


def figures(plan, checkpoint, output, pixel) -> Audit:
    """The figures of a finished search, results.json and the report files, as an Audit."""
    from . import results

    loaded, out = plan.loaded, plan.out
    natural = None
    try:
        natural = loaded.domain.naturalness(loaded, output)
        extra = _pixel_extras(plan, output, pixel, natural) if pixel is not None else None
        npz = results.pixel_npz(pixel) if pixel is not None else None
        if pixel is not None:
            extra |= npz_record(npz)
            if out is not None:
                write_bytes(out / NPZ, npz)
        res = finish(plan, checkpoint.document(output, pixel, extra, natural), pixel, output)
    except OutputError as err:
        raise checkpoint.stopped(err) from err
    except KeyboardInterrupt:  # the search was done: keep it, the report can be drawn on --resume
        if out is None:
            raise Interrupted("while drawing the gallery; nothing is saved without "
                              "out=FOLDER") from None
        checkpoint.write(output, pixel, natural)
        raise Interrupted(f"all {loaded.n} images were searched and saved{checkpoint.where}; run "
                          "the same command plus --resume to draw the report") from None
    except AuditorError as err:  # e.g. a model failing on the report's strips: keep the search
        if out is None:
            raise
        checkpoint.write(output, pixel, natural)
        raise type(err)(f"{err} (all {loaded.n} {loaded.inputs.kind} were searched and saved"
                        f"{checkpoint.where}: fix the cause and run the same command plus "
                        "--resume to draw the report)") from err
    for m in res["models"]:
        if m["degenerate"]:
            log.warning(f"model {m['name']} is degenerate: it predicts {m['classes_used']} "
                        f"class(es), one of them for {100 * m['top_class_share']:.0f}% of the "
                        "images; its large Δz says nothing about robustness and it is ranked last")
    return outputs(Audit(res, loaded.gen, pixel_npz=npz), out, plan.config.outputs.formats)


def _pixel_extras(plan, output, pixel, natural) -> dict:
    from .pixel.extras import pixel_extras

    loaded = plan.loaded
    return pixel_extras(loaded.gen, loaded.classifiers, loaded.inputs.items, output, pixel,
                        natural, plan.settings.refine_steps)


def finish(plan, res: dict, pixel=None, output=None) -> dict:
    """A finished scan's results with what the report needs from the images and the models
    (the gallery's originals, the strips' labels), written to results.json."""
    from . import results

    loaded, out, gallery = plan.loaded, plan.out, plan.config.outputs.gallery
    loaded.domain.complete(res, loaded, output, pixel, gallery)
    if out is not None:
        results.write(out / "results.json", res)
    return res


def outputs(audit: Audit, out: Path | None, wanted: tuple[str, ...]) -> Audit:
    """The report files of a finished scan whose results.json is written, through
    :meth:`Audit.write` (the scan holds the folder's lock); an output that fails never loses the
    others (:class:`OutputError` carries the audit)."""
    if out is None:
        return audit
    try:
        audit.write(out, wanted)
    except OutputError as err:
        err.audit = audit  # results.json is kept where an output failed: the rest can be redrawn
        raise
    except KeyboardInterrupt:
        raise Interrupted(f"while writing the report; {out / 'results.json'} is complete: run the "
                          "same command plus --resume to draw the report") from None
    if "json" not in wanted:  # kept while scanning so that nothing is lost; removed when not asked
        (out / "results.json").unlink()
    return audit


def redraw(plan, checkpoint, finished: dict) -> Audit:
    """``resume`` of a finished scan: the gate and the ranking follow this call's baseline and
    alpha; the report is drawn, nothing is searched."""
    from . import results

    loaded, out, gate = plan.loaded, plan.out, plan.config.gate
    log.info(f"resuming: the scan in {out / 'results.json'} is complete; drawing its outputs")
    pixel = npz = None
    if finished.get("pixel"):
        npz = (out / NPZ).read_bytes() if (out / NPZ).is_file() else b""
        arrays = results.read_pixel_npz(out / NPZ, finished["pixel"].get("adversaries_sha256"))
        pixel = results.restore_pixel(finished, loaded.n, loaded.gen.image_shape, arrays)
    gate_was = finished.get("gate") or {}
    on = "dz" if gate.on == "dz" else "distance to the nearest natural error"
    if (finished.get("alpha") != gate.alpha or gate_was.get("baseline") != gate.baseline
            or (gate.baseline and gate_was.get("on", "dz") != on)):
        finished = _rebuilt(plan, checkpoint, finished, pixel, npz)
        results.write(out / "results.json", finished)
    if "report" not in finished:  # interrupted between the search and the report
        finished = finish(plan, finished, pixel)
    return outputs(Audit(finished, loaded.gen, pixel_npz=npz), out, plan.config.outputs.formats)


def _rebuilt(plan, checkpoint, finished: dict, pixel, npz) -> dict:
    """A finished scan's results assembled again (another baseline or alpha), keeping its
    report's inline images."""
    from . import results

    loaded = plan.loaded
    output = results.restore(finished, loaded.n, loaded.gen.latent_dim)
    natural = loaded.domain.naturalness(loaded, output)
    extra = (_pixel_extras(plan, output, pixel, natural) | npz_record(npz)
             if pixel is not None else None)
    rebuilt = checkpoint.document(output, pixel, extra, natural)
    for key in ("report", "created"):
        if key in finished:
            rebuilt[key] = finished[key]
    for old_inst, new_inst in zip(finished["instances"], rebuilt["instances"]):
        if "image_png" in old_inst:
            new_inst["image_png"] = old_inst["image_png"]
        for name, r in old_inst["results"].items():
            for k in ("pixel_png", "pixel_difference_png"):
                if k in r:
                    new_inst["results"][name][k] = r[k]
    return rebuilt

