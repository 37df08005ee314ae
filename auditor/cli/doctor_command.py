"""`auditor doctor`: the checks of :mod:`auditor.doctor` as a table (or JSON), exit 1 where a
default scan will not work."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import out_console


def doctor(
    as_json: Annotated[bool, typer.Option("--json",
        help="Print the checks as JSON (for bug reports and scripts).")] = False,
) -> None:
    """Check what this machine can do: Python, torch, ONNX Runtime, the PDF renderer, fonts, \
generators.

    Exits 0 when a default scan will work, 1 (with the fix) when not.
    """
    import json

    from rich.table import Table

    from .. import doctor as doctor_mod

    report = doctor_mod.run()
    if as_json:
        out_console.print_json(json.dumps(report))
    else:
        table = Table(title=f"auditor doctor · {report['platform']}", title_justify="left",
                      show_lines=False)
        for col in ("check", "", "detail"):
            table.add_column(col, overflow="fold")
        for c in report["checks"]:
            mark = ("[green]ok[/]" if c["ok"] else
                    "[red]FAIL[/]" if c["required"] else "[yellow]warn[/]")
            table.add_row(c["name"], mark, c["detail"])
        out_console.print(table)
        for c in report["checks"]:
            if c["fix"]:
                out_console.print(f"{'fix' if not c['ok'] else 'tip'} ({c['name']}): {c['fix']}",
                                  soft_wrap=True)
        out_console.print("[green]a default scan will work[/]" if report["ok"] else
                          "[red]a default scan will not work:[/] apply the fixes above")
    if not report["ok"]:
        raise typer.Exit(1)
