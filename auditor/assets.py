"""Where the bundled assets (generators, templates) live, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def asset_dir(name: str) -> Path:
    """The folder of bundled asset kind ``name`` ("generators" or "templates").

    A wheel carries them inside the package as ``auditor/_assets/NAME`` (see
    pyproject.toml's force-include); a checkout or editable install has them at the
    repository's top level.
    """
    for candidate in (_PACKAGE / "_assets" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"auditor's bundled {name}/ folder is missing from the installation")
