"""`auditor doctor` on this machine, and with the PDF renderer's system libraries missing (simulated)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from auditor import report
from auditor.cli import app

runner = CliRunner()


def _no_pango():
    raise OSError("cannot load library 'libpango-1.0-0': libpango-1.0-0: cannot open shared object file")


def test_doctor_checks_a_working_machine():
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    checks = {c["name"]: c for c in doc["checks"]}
    assert doc["ok"] is True
    assert set(checks) == {"python", "auditor", "torch", "onnxruntime", "pdf", "fonts", "generators"}
    assert "renders a one-page PDF" in checks["pdf"]["detail"]
    assert "a scan uses CPUExecutionProvider" in checks["onnxruntime"]["detail"] or "CUDA" in checks["onnxruntime"]["detail"]
    assert "mnist 1×28×28" in checks["generators"]["detail"] and "MISMATCH" not in checks["generators"]["detail"]
    plain = runner.invoke(app, ["doctor"])
    assert plain.exit_code == 0 and "a default scan will work" in plain.stdout


def test_doctor_names_the_fix_when_the_pdf_renderer_is_missing(monkeypatch):
    monkeypatch.setattr(report, "import_weasyprint", _no_pango)
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "FAIL" in result.stdout and "cannot load its system libraries" in result.stdout
    assert "libpango" in result.stdout and "--format html,md,json" in result.stdout
    assert "will not work" in result.stdout
    doc = json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)
    assert doc["ok"] is False and next(c for c in doc["checks"] if c["name"] == "pdf")["ok"] is False


def test_doctor_flags_damaged_generator_weights(monkeypatch):
    from auditor import generators

    monkeypatch.setattr(generators, "sha256", lambda path: "0" * 64)
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 1
    gen = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "generators")
    assert "MISMATCH" in gen["detail"] and "reinstall" in gen["fix"]


def test_scan_without_a_pdf_renderer_writes_the_rest_and_exits_3(monkeypatch, onnx_factory, digits_dir, tiny_bundle,
                                                                  tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "report.pdf").write_bytes(b"%PDF- an older scan's report")
    monkeypatch.setattr(report, "import_weasyprint", _no_pango)
    args = ["scan", str(onnx_factory()), str(digits_dir), "--generator", str(tiny_bundle), "--out", str(out),
            "--samples", "20", "--refine-steps", "0", "--format", "html,pdf,md"]
    result = runner.invoke(app, args)
    assert result.exit_code == 3, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "report.pdf could not be rendered" in result.output
    assert "auditor doctor" in result.output and "auditor report" in result.output
    assert "Traceback" not in result.output
    assert {p.name for p in out.iterdir()} == {"index.html", "model-card.md", "card", "results.json", ".auditor.lock"}
    # the renderer is back: the PDF is drawn from the kept results.json alone
    monkeypatch.undo()
    again = runner.invoke(app, ["report", str(out / "results.json"), "--format", "pdf", "--generator", str(tiny_bundle)])
    assert again.exit_code == 0, again.output
    assert (out / "report.pdf").read_bytes()[:5] == b"%PDF-"


def test_report_without_a_pdf_renderer_exits_3(monkeypatch, onnx_factory, digits_dir, tiny_bundle, tmp_path):
    out = tmp_path / "r"
    args = ["scan", str(onnx_factory()), str(digits_dir), "--generator", str(tiny_bundle), "--out", str(out),
            "--samples", "20", "--refine-steps", "0", "--format", "json"]
    assert runner.invoke(app, args).exit_code == 0
    monkeypatch.setattr(report, "import_weasyprint", _no_pango)
    result = runner.invoke(app, ["report", str(out / "results.json"), "--generator", str(tiny_bundle)])
    assert result.exit_code == 3, result.output
    assert (out / "index.html").exists() and not (out / "report.pdf").exists()
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
