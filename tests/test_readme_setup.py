"""The README's set-up and CI instructions agree with the code: the torch build and index it names are
the ones scripts/install_torch.sh installs, the CI workflow installs auditor from a path (no
placeholder) after PyTorch's CPU build, its scan command parses with the real CLI, and the exit codes
it tells a CI to act on are the CLI's."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
SCRIPT = (ROOT / "scripts" / "install_torch.sh").read_text()


def section(title: str) -> str:
    start = README.index(f"\n{title}\n")
    end = README.find("\n## ", start + 1)
    nxt = README.find("\n### ", start + 1)
    return README[start:min(i for i in (end, nxt, len(README)) if i > 0)]


def ci_workflow() -> str:
    (block,) = re.findall(r"```yaml\n(# \.github/workflows/robustness\.yml.*?)```", README, flags=re.S)
    return block


def ci_runs() -> list[str]:
    return re.findall(r"^\s*- run: (.+)$", ci_workflow(), flags=re.M)


def test_quick_start_names_the_build_and_index_the_set_up_installs():
    version = re.search(r"^version=(\S+)$", SCRIPT, flags=re.M).group(1)
    index = re.search(r"AUDITOR_TORCH_INDEX:-(\S+)\}", SCRIPT).group(1)
    quick = section("## Quick start")
    assert f"`torch=={version}+cpu`, from its CPU index {index}" in quick
    assert f"the default build, `torch=={version}`" in quick
    assert f"pip install torch=={version}+cpu --index-url {index}" in quick
    assert "scripts/install_torch.sh" in quick and "AUDITOR_TORCH_INDEX" in quick
    assert "bash scripts/install_torch.sh" in (ROOT / "scripts" / "setup.sh").read_text()


def test_ci_workflow_is_valid_yaml_with_the_steps_in_order():
    yaml = pytest.importorskip("yaml")
    steps = yaml.safe_load(ci_workflow())["jobs"]["audit"]["steps"]
    assert [step.get("uses", "run").split("@")[0] for step in steps] == [
        "actions/checkout", "actions/setup-python", "run", "run", "run", "actions/upload-artifact"]
    assert [step["run"] for step in steps if "run" in step] == ci_runs()


def test_ci_workflow_installs_cpu_torch_then_auditor_from_a_path():
    torch_line, install_line, _ = ci_runs()
    version = re.search(r"^version=(\S+)$", SCRIPT, flags=re.M).group(1)
    assert torch_line == f"pip install torch=={version}+cpu --index-url https://download.pytorch.org/whl/cpu"
    assert install_line == "pip install ./vendor/auditor"
    assert not re.search(r"OWNER|git\+|<[a-z]|\.\.\.", ci_workflow())  # nothing to fill in
    ci = section("### Release gating in CI")
    assert "`vendor/auditor`" in ci and "pip install dist/auditor-*.whl" in ci and "pip wheel --no-deps -w dist ." in ci


def test_ci_scan_command_parses_with_the_cli():
    from typer.main import get_command

    from auditor.cli import app

    *_, scan_line = ci_runs()
    program, command, *args = shlex.split(scan_line)
    assert (program, command) == ("auditor", "scan")
    scan = get_command(app).commands["scan"]
    params = scan.make_context("scan", list(args)).params
    *models, images = params["paths"]
    assert params["fail_if_worse"] and params["baseline"] in {Path(m).stem for m in models}
    assert str(images) == "audit-images" and str(params["out"]) == "audit"
    assert re.search(r"path: audit/\}", ci_workflow())  # the report it uploads is the scan's --out


def test_ci_exit_codes_are_the_clis():
    from auditor import cli

    ci = section("### Release gating in CI")
    paragraph = ci[ci.index("In CI, act on the exit code"):]
    paragraph = paragraph[:paragraph.index("\n\n")]
    codes = {int(code) for code in re.findall(r"\*\*(\d+)\*\*", paragraph)}
    assert codes == {0, cli.EXIT_GATE, cli.EXIT_ERROR, cli.EXIT_OUTPUTS, cli.EXIT_LOCKED, cli.EXIT_INTERRUPTED,
                     cli.EXIT_INTERNAL}
    assert "**1** the gate failed" in paragraph and f"**{cli.EXIT_INTERNAL}** an internal error" in paragraph
