"""Each notebook is a Jupytext pair (jupytext.toml): the .py text and the .ipynb with outputs.

The .py is what a reviewer reads and what `make notebooks` executes into the .ipynb; the two
must hold the same cells (type, source and tags), or an edit on one side is silently lost.
"""

from pathlib import Path

import jupytext
import nbformat
import pytest

from helpers.paths import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def cells(notebook) -> list[tuple[str, str, list[str]]]:
    return [(c.cell_type, c.source.strip(), list(c.metadata.get("tags", [])))
            for c in notebook.cells]


def test_every_notebook_has_its_text_pair_and_no_stray_texts():
    assert len(NOTEBOOKS) >= 7
    texts = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
    assert [p.stem for p in texts] == [p.stem for p in NOTEBOOKS]
    config = (REPO_ROOT / "jupytext.toml").read_text()
    assert 'formats = "ipynb,py:percent"' in config


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_pair_holds_the_same_cells(ipynb: Path):
    text = ipynb.with_suffix(".py")
    stored, source = nbformat.read(ipynb, as_version=4), jupytext.read(text)
    a, b = cells(stored), cells(source)
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        assert x == y, (f"{ipynb.name} cell {i} differs from {text.name}: run `jupytext --sync "
                        f"notebooks/{ipynb.name}` (or `make notebooks`), then commit both")
    assert len(a) == len(b), f"{ipynb.name} has {len(a)} cells, {text.name} {len(b)}"


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_stored_outputs_hold_no_error_no_machine_path_and_no_stale_progress(ipynb: Path):
    """What a reader sees without running: no error output (nbval ignores the outputs of some
    cells, so it would not notice one there), no path of the machine that ran it, and a
    progress bar's text form (what a viewer without widgets shows) at its end, not at 0%."""
    for number, cell in enumerate(nbformat.read(ipynb, as_version=4).cells):
        for output in cell.get("outputs", []):
            where = f"{ipynb.name} cell {number}"
            assert output.output_type != "error", f"{where}: {output.get('ename')}"
            text = output.get("text", "") + output.get("data", {}).get("text/plain", "")
            for root in (str(REPO_ROOT), "/tmp/", "/root/", "/home/"):
                assert root not in text, f"{where} shows a path of this machine: {root}"
            if "application/vnd.jupyter.widget-view+json" in output.get("data", {}) \
                    and text.startswith("training:"):
                assert "100%" in text, f"{where}: the stored progress bar reads {text!r}"
