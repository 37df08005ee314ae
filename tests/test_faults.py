"""Faults of the machine: a folder in use, write errors, interrupts and a model that starts failing.

Every case is a small real scan (one model, 8 digits, --refine-steps 0) and is seeded; each
interrupted or failed scan is then resumed and must equal the uninterrupted one. Cases:
3 locking (two real processes), 15 write errors (4 errnos x results.json first and last write and
index.html; ENOSPC for report.pdf, model-card.md and a card PNG), 12 interrupts (SIGINT, SIGTERM,
SIGKILL at 4 points), 2 models failing mid-scan (an exception, NaN scores), 1 finished-scan resume:
33 cases.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from auditor import faults, files
from auditor.cli import app

EXE = str(Path(sys.executable).with_name("auditor"))
runner = CliRunner()


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_bundle):
    """A model, 8 digits, and the results of an uninterrupted scan to compare with."""
    from conftest import _linear_onnx, blob_images, png_folder

    root = tmp_path_factory.mktemp("faults")
    model = _linear_onnx(root / "linear.onnx", input_shape=["N", 1, 28, 28])
    digits = png_folder(root / "digits", blob_images(8), "img")
    args = ["scan", str(model), str(digits), "--generator", str(tiny_bundle), "--refine-steps", "0",
            "--samples", "8", "--batch", "2", "--seed", "1"]
    ref = root / "reference"
    result = runner.invoke(app, [*args, "--out", str(ref), "--format", "json"])
    assert result.exit_code == 0, result.output
    return {"args": args, "reference": comparable(json.loads((ref / "results.json").read_text()))}


def comparable(res: dict) -> dict:
    """results.json without what legitimately differs between runs (timings, date)."""
    search = {k: v for k, v in res["search"].items() if not k.startswith("seconds")}
    return {"search": search, "models": res["models"], "instances": res["instances"], "pairwise": res["pairwise"],
            "ranking": res["ranking"], "complete": res["complete"], "report": res.get("report")}


def invoke(args: list[str], env: dict[str, str] | None = None):
    faults._hits.clear()
    return runner.invoke(app, args, env=env)


def leftovers(out: Path) -> list[str]:
    return [p.name for p in out.rglob("*.tmp")]


def assert_one_line(result, code: int) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.startswith("error:")]) == 1, result.output


# --- one writer per folder -----------------------------------------------------------------

HOLD = "import sys, time; from auditor.files import FolderLock; FolderLock(sys.argv[1]).__enter__(); " \
       "print('locked', flush=True); time.sleep(float(sys.argv[2]))"


def hold_lock(out: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_folder_in_use_is_refused_at_once_and_freed_when_its_holder_is_killed(setup, tmp_path):
    out = tmp_path / "r"
    holder = hold_lock(out, 60)
    try:
        result = invoke([*setup["args"], "--out", str(out), "--format", "json"])
        assert_one_line(result, 4)
        assert str(out) in result.output and f"pid {holder.pid}" in result.output and "--out audit-" in result.output
        assert sorted(p.name for p in out.iterdir()) == [".auditor.lock"]
        waited = invoke([*setup["args"], "--out", str(out), "--format", "json", "--wait", "0.3"])
        assert_one_line(waited, 4)
        assert "after waiting 0.3 s" in waited.output
    finally:
        holder.kill()  # SIGKILL: the kernel drops the lock with the process
        holder.communicate()
    assert invoke([*setup["args"], "--out", str(out), "--format", "json"]).exit_code == 0
    assert (out / ".auditor.lock").exists()  # never unlinked


def test_wait_takes_the_folder_when_the_holder_finishes(setup, tmp_path):
    out = tmp_path / "r"
    holder = hold_lock(out, 1.0)
    result = invoke([*setup["args"], "--out", str(out), "--format", "json", "--wait", "60"])
    holder.communicate()
    assert result.exit_code == 0, result.output
    assert comparable(json.loads((out / "results.json").read_text())) == setup["reference"]


def test_two_scans_into_one_folder_never_both_claim_success(setup, tmp_path, torchscript_model):
    out = tmp_path / "r"
    first = [EXE, *setup["args"], "--out", str(out), "--format", "json"]
    second = [EXE, *setup["args"][:1], str(torchscript_model), *setup["args"][2:], "--out", str(out), "--format", "json"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for cmd in (first, second)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    outcomes = [(p.returncode, err) for p, err in zip(procs, errors)]
    codes = sorted(code for code, _ in outcomes)
    # one scan wins; the other is refused (4), or, if it started after the first had finished,
    # meets the first's results and needs --force (2): never two exit 0 with one results.json
    assert codes in ([0, 2], [0, 4]), outcomes
    winner = [name for (code, _), name in zip(outcomes, ["linear", "mlp"]) if code == 0][0]
    res = json.loads((out / "results.json").read_text())
    assert [m["name"] for m in res["models"]] == [winner] and res["complete"]


# --- write errors --------------------------------------------------------------------------

ERRNOS = [errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS]
WORDS = {errno.ENOSPC: "no space left", errno.EACCES: "permission denied", errno.EPERM: "permission denied",
         errno.EROFS: "read-only file system"}


def fail_writes(monkeypatch, name: str, code: int, nth: int = 1) -> None:
    """The nth rename onto a file called ``name`` fails with ``code`` (after the temporary file
    was written in full: the failure must remove it)."""
    real, seen = os.replace, {"n": 0}

    def replace(src, dst):
        if Path(dst).name == name:
            seen["n"] += 1
            if seen["n"] == nth or nth == -1:
                raise OSError(code, os.strerror(code), str(dst))
        return real(src, dst)

    monkeypatch.setattr(files.os, "replace", replace)


@pytest.mark.parametrize("code", ERRNOS, ids=errno.errorcode.get)
def test_first_partial_write_fails(setup, tmp_path, monkeypatch, code):
    out = tmp_path / "r"
    fail_writes(monkeypatch, "results.json", code, nth=1)
    result = invoke([*setup["args"], "--out", str(out), "--format", "json"])
    assert_one_line(result, 3)
    assert WORDS[code] in result.output and "no image was saved" in result.output
    assert not (out / "results.json").exists() and leftovers(out) == []


@pytest.mark.parametrize("code", ERRNOS, ids=errno.errorcode.get)
def test_final_results_write_fails_and_the_partial_file_resumes(setup, tmp_path, monkeypatch, code):
    out = tmp_path / "r"
    fail_writes(monkeypatch, "results.json", code, nth=2)  # the first partial write succeeds
    result = invoke([*setup["args"], "--out", str(out), "--format", "json"])
    assert_one_line(result, 3)
    assert WORDS[code] in result.output and "--resume" in result.output
    partial = json.loads((out / "results.json").read_text())
    assert partial["complete"] is False and partial["progress"]["done"] >= 2 and leftovers(out) == []
    monkeypatch.undo()
    resumed = invoke([*setup["args"], "--out", str(out), "--format", "json", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert comparable(json.loads((out / "results.json").read_text())) == setup["reference"]


@pytest.mark.parametrize("code,name,fmt", [(c, "index.html", "html,json") for c in ERRNOS] + [
    (errno.ENOSPC, "report.pdf", "pdf,json"), (errno.ENOSPC, "model-card.md", "md,json"),
    (errno.ENOSPC, "0-original.png", "md,json")], ids=lambda v: errno.errorcode.get(v, v) if isinstance(v, int) else v)
def test_a_report_write_fails_and_results_json_is_complete(setup, tmp_path, monkeypatch, code, name, fmt):
    out = tmp_path / "r"
    out.mkdir()
    (out / name).write_text("an older scan's file")
    fail_writes(monkeypatch, name, code, nth=-1)
    result = invoke([*setup["args"], "--out", str(out), "--format", fmt])
    assert_one_line(result, 3)
    assert WORDS[code] in result.output and "results.json is complete" in result.output
    assert comparable(json.loads((out / "results.json").read_text())) == setup["reference"]
    assert leftovers(out) == []
    if name == "report.pdf":
        assert not (out / name).exists()  # never an older scan's PDF beside the new results
    else:
        assert (out / name).read_text() == "an older scan's file"  # the last good file stays whole


# --- interrupts at fixed points ------------------------------------------------------------

POINTS = ["before-first-write", "between-batches", "before-rename", "during-render"]


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("sig", ["INT", "TERM"])
def test_interrupt_in_process_then_resume(setup, tmp_path, point, sig):
    out = tmp_path / "r"
    args = [*setup["args"], "--out", str(out), "--format", "json"]
    result = invoke(args, env={"AUDITOR_FAULT": f"{point}:{sig}"})
    assert result.exit_code == 130, result.output
    assert "Traceback" not in result.output and "interrupted" in result.output
    assert leftovers(out) == []
    resumed = invoke([*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert comparable(json.loads((out / "results.json").read_text())) == setup["reference"]


@pytest.mark.slow
@pytest.mark.parametrize("point", POINTS)
def test_sigkill_then_resume(setup, tmp_path, point):
    out = tmp_path / "r"
    args = [*setup["args"], "--out", str(out), "--format", "json"]
    killed = subprocess.run([EXE, *args], env={**os.environ, "AUDITOR_FAULT": f"{point}:KILL"},
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    if point == "before-rename":
        assert leftovers(out)  # the killed process left its temporary file...
    resumed = invoke([*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert leftovers(out) == []  # ...which the next writer removed under the lock
    assert comparable(json.loads((out / "results.json").read_text())) == setup["reference"]


def test_resume_of_a_finished_scan_does_not_search_again(setup, tmp_path, monkeypatch):
    out = tmp_path / "r"
    args = [*setup["args"], "--out", str(out), "--format", "json,html"]
    assert invoke(args).exit_code == 0
    (out / "index.html").unlink()

    def no_search(*a, **k):
        raise AssertionError("searched again")

    monkeypatch.setattr("auditor.search.search", no_search)
    start = time.monotonic()
    resumed = invoke([*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert "is complete" in resumed.output and (out / "index.html").exists()
    assert time.monotonic() - start < 30


# --- a model that starts failing mid-scan ----------------------------------------------------

@pytest.mark.parametrize("kind", ["raises", "nan"])
def test_a_model_failing_mid_scan_keeps_the_finished_batches(setup, tmp_path, monkeypatch, kind):
    from auditor import models
    from auditor.errors import ModelError

    out = tmp_path / "r"
    real = models.OnnxClassifier._labels

    def flaky(self, x, n):  # healthy until the first partial results are on disk
        if not (out / "results.json").exists():
            return real(self, x, n)
        if kind == "raises":
            raise ModelError(f"{self.path.name}: inference failed: CUDA error: an illegal memory access")
        return models._labels_from_output(np.full((n, 3), np.nan, np.float32), n, self.name)

    monkeypatch.setattr(models.OnnxClassifier, "_labels", flaky)
    args = [*setup["args"], "--out", str(out), "--format", "json"]
    result = invoke(args)
    assert_one_line(result, 2)
    assert ("inference failed" if kind == "raises" else "NaN") in result.output and "--resume" in result.output
    partial = json.loads((out / "results.json").read_text())
    assert partial["complete"] is False and partial["progress"]["done"] >= 2
    monkeypatch.undo()
    resumed = invoke([*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert comparable(json.loads((out / "results.json").read_text())) == setup["reference"]


# --- a real full disk and a real read-only file system (root with unshare -m; skipped elsewhere) ---

def _namespace_script(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    """Run ``body`` in a private mount namespace with a fresh mount point $D and a folder $X outside it."""
    if os.geteuid() != 0 or not Path("/usr/bin/unshare").exists():
        pytest.skip("needs root and unshare -m for a private tmpfs")
    (tmp_path / "d").mkdir()
    (tmp_path / "x").mkdir()
    script = f'set -u; D={tmp_path / "d"}; X={tmp_path / "x"}; AUDITOR={EXE}\n{body}'
    run = subprocess.run(["unshare", "-m", "--propagation", "private", "bash", "-c", script],
                         capture_output=True, text=True, timeout=180)
    if "MOUNT-FAILED" in run.stdout:
        pytest.skip("tmpfs cannot be mounted here")
    return run


def test_a_real_full_disk(setup, tmp_path):
    args = " ".join(f"'{a}'" for a in setup["args"])
    # 32 KB: the lock, results.json and its temporary copy fit (4 + 8 + 8 KB), the HTML report (26 KB) does not
    run = _namespace_script(tmp_path, f"""
mount -t tmpfs -o size=32k tmpfs "$D" || {{ echo MOUNT-FAILED; exit 0; }}
$AUDITOR {args} --out "$D/r" --format json,html 2> "$X/stderr"; echo $? > "$X/rc"
cp -a "$D/r" "$X/copy"
""")
    err = (tmp_path / "x" / "stderr").read_text()
    assert (tmp_path / "x" / "rc").read_text().strip() == "3", (run.stderr, err)
    assert "no space left" in err and "results.json is complete" in err and "Traceback" not in err
    copy = tmp_path / "x" / "copy"
    assert comparable(json.loads((copy / "results.json").read_text())) == setup["reference"]
    assert leftovers(copy) == [] and not (copy / "index.html").exists()


def test_a_real_read_only_file_system(setup, tmp_path):
    args = " ".join(f"'{a}'" for a in setup["args"])
    run = _namespace_script(tmp_path, f"""
mount -t tmpfs -o size=4m tmpfs "$D" || {{ echo MOUNT-FAILED; exit 0; }}
$AUDITOR {args} --out "$D/r" --format json 2> /dev/null || exit 9
mount -o remount,ro "$D"
$AUDITOR report "$D/r/results.json" --format html 2> "$X/report-stderr"; echo $? > "$X/report-rc"
$AUDITOR {args} --out "$D/r" --format json --force 2> "$X/scan-stderr"; echo $? > "$X/scan-rc"
cp -a "$D/r" "$X/copy"
""")
    assert run.returncode == 0, run.stderr
    for name in ("report", "scan"):
        err = (tmp_path / "x" / f"{name}-stderr").read_text()
        assert (tmp_path / "x" / f"{name}-rc").read_text().strip() == "2", err
        assert "read-only file system" in err and "Traceback" not in err
    assert comparable(json.loads((tmp_path / "x" / "copy" / "results.json").read_text())) == setup["reference"]


def test_resume_of_a_finished_scan_applies_a_new_gate(setup, tmp_path, torchscript_model):
    out = tmp_path / "r"
    args = [*setup["args"][:1], str(torchscript_model), *setup["args"][1:], "--out", str(out), "--format", "json"]
    assert invoke(args).exit_code == 0
    assert json.loads((out / "results.json").read_text())["gate"] is None
    gated = invoke([*args, "--resume", "--baseline", "linear", "--fail-if-worse", "--alpha", "0.5"])
    assert gated.exit_code in (0, 1), gated.output
    res = json.loads((out / "results.json").read_text())
    assert res["gate"]["baseline"] == "linear" and res["alpha"] == 0.5
    assert ("gate FAILED" in gated.output) == (gated.exit_code == 1) and "gate" in gated.output


def test_a_bug_is_one_line_and_never_exit_1(setup, tmp_path, monkeypatch):
    from auditor import report

    def broken(*a, **k):
        raise ValueError("template exploded")

    monkeypatch.setattr(report, "render_html", broken)
    result = invoke([*setup["args"], "--out", str(tmp_path / "r"), "--format", "json,html"])
    assert result.exit_code == 70 and "Traceback" not in result.output
    assert "internal error: ValueError: template exploded" in result.output


def test_a_model_failing_after_the_search_keeps_the_searched_results(setup, tmp_path, monkeypatch):
    """A failure while the report is drawn (here the strips' labels) keeps the finished search in
    results.json, and --resume draws the report without searching again."""
    from auditor.domains import image_views
    from auditor.errors import ModelError

    out = tmp_path / "o"
    real = image_views.attach_strips

    def failing(*args, **kwargs):
        raise ModelError("linear: the model stopped answering")

    monkeypatch.setattr(image_views, "attach_strips", failing)
    failed = invoke([*setup["args"], "--out", str(out), "--format", "json"])
    assert failed.exit_code == 2 and "were searched and saved" in failed.output and "--resume" in failed.output
    saved = json.loads((out / "results.json").read_text())
    assert saved["complete"] and "report" not in saved
    monkeypatch.setattr(image_views, "attach_strips", real)
    resumed = invoke([*setup["args"], "--out", str(out), "--format", "json", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert comparable(json.loads((out / "results.json").read_text())) == setup["reference"]
