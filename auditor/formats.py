"""The outputs a scan or `auditor report` can write, and the parser of their --format list.

The one definition of the output formats: the scan, :meth:`Audit.write`, the report and the CLI
read them from here.
"""

from __future__ import annotations

from .errors import OptionError

# html: index.html, pdf: report.pdf, md: model-card.md (+ card/), json: results.json
FORMATS = ("html", "pdf", "md", "json")


def parse_formats(text: str) -> tuple[str, ...]:
    """``"html, PDF,html"`` -> ``("html", "pdf")``; :class:`OptionError` for an unknown name
    or an empty list."""
    wanted = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown or not wanted:
        raise OptionError(f"--format takes a comma-separated list of {', '.join(FORMATS)}; "
                          f"got {text!r}")
    return wanted
