"""``python -m auditor.cli``: the same as the ``auditor`` command."""

from . import app

app()
