"""The Python API page's examples run as written, in order, from the repository's root."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_python_api_page_runs(monkeypatch, capsys):
    text = (ROOT / "docs" / "python-api.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 6
    monkeypatch.chdir(ROOT)
    namespace: dict = {"__name__": "docs"}
    for k, block in enumerate(blocks):
        exec(compile(block, f"docs/python-api.md, block {k + 1}", "exec"), namespace)
    audit = namespace["audit"]
    assert sorted(audit.names) == ["lenet", "mlp"] and len(namespace["robustness"]) == 2
    assert sorted(namespace["paths"], key=str)[0].name == "index.html"
    assert "<Audit: 2 model(s) on 60 images" in capsys.readouterr().out
