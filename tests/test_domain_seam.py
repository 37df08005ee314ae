"""The input domain is a seam (issue 38): no module outside auditor/domains/ and the text
domain's own package branches on the input's modality, the renderer neither runs models nor
changes results, and a model of the wrong modality is refused before any set-up line."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "auditor"
INSIDE = (PACKAGE / "domains", PACKAGE / "text")  # where a domain may speak of itself
MODALITIES = {"image", "text"}
DOMAIN_INPUTS = {"TextSet", "ImageSet"}
FLAGS = {"is_text", "text", "pairs"}  # attributes a branch may not test
NAMED_FLAGS = {"is_text", "text"}  # variables a branch may not test ("pairs" is a common word)


def _outside() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py"))
            if not any(p.is_relative_to(d) for d in INSIDE)]


def _tests(tree: ast.AST):
    """The expressions a module branches on: if/while/ternary tests and comprehension filters."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.If, ast.IfExp, ast.While, ast.Assert)):
            yield node.test
        elif isinstance(node, ast.comprehension):
            yield from node.ifs


def _branches(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            values = [node.left, *node.comparators]
            if any(isinstance(v, ast.Constant) and v.value in MODALITIES for v in values):
                found.append(f"{path.name}:{node.lineno}: compares with a modality name")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "isinstance" and len(node.args) == 2):
            names = {n.id if isinstance(n, ast.Name) else getattr(n, "attr", "")
                     for n in ast.walk(node.args[1])}
            if names & DOMAIN_INPUTS:
                found.append(f"{path.name}:{node.lineno}: isinstance on a domain's input type")
        elif isinstance(node, (ast.Name, ast.Attribute)):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if name == "is_text":
                found.append(f"{path.name}:{node.lineno}: is_text outside the text domain")
    for test in _tests(tree):
        for node in ast.walk(test):
            if isinstance(node, ast.Attribute) and node.attr in FLAGS:
                found.append(f"{path.name}:{node.lineno}: branches on .{node.attr}")
            elif isinstance(node, ast.Name) and node.id in NAMED_FLAGS:
                found.append(f"{path.name}:{node.lineno}: branches on {node.id}")
    return found


def test_no_module_outside_the_domains_branches_on_the_modality():
    found = [b for p in _outside() for b in _branches(p)]
    assert not found, "\n".join(found)


def test_the_check_catches_a_modality_branch(tmp_path):
    """The check above can fail: each kind of branch it forbids is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f(gen, data, x):\n"
                   "    if gen.modality == 'text':\n        pass\n"
                   "    y = 1 if data.pairs else 2\n"
                   "    if text:\n        pass\n"
                   "    isinstance(x, TextSet)\n"
                   "    return is_text(x)\n")
    assert len(_branches(bad)) == 5


def test_the_renderer_runs_no_model_and_imports_no_backend():
    for name in ("report.py", "gallery.py", "plots.py", "pictures.py", "summary_sentences.py"):
        tree = ast.parse((PACKAGE / name).read_text())
        calls = [n.func.attr for n in ast.walk(tree)
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)]
        assert "predict" not in calls and "predict_scores" not in calls, name
        imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in imported if "models" in m or "onnxruntime" in m or "torch" in m], name


def test_every_domain_is_registered_and_complete():
    from auditor.domains import DOMAINS, Domain

    assert DOMAINS.names() == ["image", "text"]
    wanted = [m for m in Domain.__dict__ if not m.startswith("_")
              and callable(getattr(Domain, m))]
    for name, domain in DOMAINS.items():
        assert domain.name == name
        assert not [m for m in wanted if not callable(getattr(domain, m, None))], name
    assert sum(d.fallback for d in DOMAINS.values()) == 1


@pytest.mark.parametrize("model, data, said", [
    ("examples/models/lenet.onnx", "examples/text/pairs.tsv", "not text; scan it with images"),
    ("examples/text/models/logreg.onnx", "examples/digits", "scan it with texts"),
])
def test_a_model_of_the_other_modality_is_refused_before_any_setup_line(model, data, said, caplog,
                                                                         tmp_path):
    import auditor
    from auditor.errors import ModelError

    with caplog.at_level(logging.INFO, logger="auditor"), pytest.raises(ModelError, match=said):
        auditor.scan(str(ROOT / model), str(ROOT / data), limit=4, progress=False)
    assert [r.getMessage() for r in caplog.records] == []


def test_the_progress_bar_names_the_domains_inputs(tmp_path):
    import auditor

    seen = []

    def factory(title, total, unit=""):
        seen.append(unit)
        from auditor.progress import silent

        return silent(title, total)

    auditor.scan(str(ROOT / "examples/text/models/logreg.onnx"), str(ROOT / "examples/text/pairs.tsv"),
                 limit=2, samples=4, max_steps=2, error_distance="off", search_error=0,
                 progress=factory)
    assert seen == ["pair×model pairs"]
    plain = []
    auditor.scan(str(ROOT / "examples/text/models/logreg.onnx"), str(ROOT / "examples/text/pairs.tsv"),
                 limit=2, samples=4, max_steps=2, error_distance="off", search_error=0,
                 progress=lambda title, total: (plain.append(title), factory(title, total))[1])
    assert plain  # a factory(title, total) of the old signature still works
