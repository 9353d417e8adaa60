"""What the make_*.py scripts share: cells as data, a notebook from them, a CLI to write and run.

Each make_*.py holds the cell sources of its notebooks and ends with ``main({...})``. Writing
replaces a notebook's stored outputs, so always execute afterwards (``--execute``): nbval
compares the stored outputs with a fresh run. Cell ids are fixed (``nb04-07``...) so that
regenerating gives a small git diff.
"""

import argparse
import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOKS = Path(__file__).resolve().parent.parent
METADATA = {
    "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                   "language": "python"},
    "language_info": {"name": "python"},
}


def md(source, *tags):
    return ("markdown", source, tags)


def code(source, *tags):
    return ("code", source, tags)


def build(cells, prefix):
    nb = new_notebook(metadata=METADATA)
    for n, (kind, source, tags) in enumerate(cells):
        source = source.strip("\n")
        cell = new_markdown_cell(source) if kind == "markdown" else new_code_cell(source)
        cell.id = f"{prefix}-{n:02d}"
        if tags:
            cell.metadata["tags"] = list(tags)
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def execute(name):
    """Run a written notebook in place, from the notebooks folder, as nbval would."""
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook",
                    "--execute", "--inplace", "--ExecutePreprocessor.timeout=1800", name],
                   cwd=NOTEBOOKS, check=True)


def main(notebooks, argv=None):
    """``notebooks``: file name -> list of cells, in the order they must run."""
    parser = argparse.ArgumentParser(description="Write (and run) notebooks from their cells.")
    parser.add_argument("names", nargs="*", help="only these notebooks (default: all)")
    parser.add_argument("--execute", action="store_true", help="run them in place afterwards")
    args = parser.parse_args(argv)
    unknown = set(args.names) - set(notebooks)
    if unknown:
        parser.error(f"unknown notebook(s) {sorted(unknown)}; choose from {sorted(notebooks)}")
    for name, cells in notebooks.items():
        if args.names and name not in args.names:
            continue
        nbformat.write(build(cells, "nb" + name[:2]), NOTEBOOKS / name)
        print("wrote", name)
        if args.execute:
            execute(name)
            print("executed", name)
    return 0
