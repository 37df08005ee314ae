"""Run auditor in a real Jupyter kernel and report what a notebook shows: the progress bar's
output, the Audit's HTML display, errors. Needs nbclient, nbformat and ipykernel (not project
dependencies: `pip install nbclient nbformat ipykernel`). From the repository's root:

    python bench/notebook.py [--save docs/notebook-check.ipynb]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CELLS = [
    "import auditor\n"
    "audit = auditor.scan({'lenet': 'examples/models/lenet.onnx', 'mlp': 'examples/models/mlp.pt'},\n"
    "                     'examples/digits', seed=0, limit=20, error_distance='off')",
    "audit",
    "print(audit)",
]


def main() -> None:
    import nbformat
    from nbclient import NotebookClient

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--save", type=Path, help="write the executed notebook here")
    args = parser.parse_args()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    for k, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            kind = out["output_type"]
            if kind == "stream":
                text = out["text"].strip().splitlines()
                print(f"cell {k + 1} {out['name']}: {len(text)} line(s); last: {text[-1][:120] if text else ''}")
            elif kind in ("display_data", "execute_result"):
                print(f"cell {k + 1} {kind}: {', '.join(sorted(out['data']))}; "
                      f"text/html {len(out['data'].get('text/html', ''))} characters")
            elif kind == "error":
                print(f"cell {k + 1} ERROR {out['ename']}: {out['evalue']}")
                sys.exit(1)
    if args.save:
        nbformat.write(nb, args.save)


if __name__ == "__main__":
    main()
