"""A wheel (a non-editable install) carries the bundled generators and templates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_installed_wheel_finds_its_assets(tmp_path):
    pytest.importorskip("hatchling")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )
    (wheel,) = tmp_path.glob("auditor-*.whl")
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True, capture_output=True,
    )
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from auditor.assets import asset_dir; from auditor.generators import bundled_names; "
        "print(asset_dir('generators')); print(asset_dir('templates')); print(bundled_names())"
    )
    out = subprocess.run([sys.executable, "-c", code, str(target)], check=True, capture_output=True, text=True,
                         cwd=tmp_path).stdout.splitlines()
    assert out[0].startswith(str(target)) and out[1].startswith(str(target))
    assert "mnist" in out[2]
    assert (target / "auditor" / "py.typed").exists()  # the API's type hints reach type checkers
    assert (target / "auditor" / "_assets" / "templates" / "notebook.html.j2").exists()
