"""helpers.runs._execute, which runs every notebook of the main job and of sweeps, on tiny
notebooks made here (a kernel start each, no TensorFlow): a cell that runs past its time is
stopped with a message and its notebook kept, and papermill's output never goes through a
link planted in the run folder."""

import os
import re
import time

import nbformat
import pytest
from conftest import PRECIOUS

from helpers import runs
from helpers.paths import relative

pytestmark = pytest.mark.system  # starts Jupyter kernels


def make_notebook(path, *cells):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(notebook, path)
    return path


def outputs_of(path):
    return ["".join(output.get("text", "") for output in cell.get("outputs", []))
            for cell in nbformat.read(path, as_version=4).cells]


def running_files(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".running.ipynb"))


def test_a_cell_past_its_time_is_stopped_and_its_notebook_kept(tmp_path, run_dir,
                                                               monkeypatch):
    notebook = make_notebook(tmp_path / "sleeps.ipynb", "print('started')",
                             "import time\ntime.sleep(300)\nprint('woke')")
    monkeypatch.setitem(runs.CELL_TIMEOUT_S, notebook.name, 2)
    output = run_dir / notebook.name
    output.write_text("an earlier, good run's notebook", encoding="utf-8")
    failed = runs.failed_notebook(output)
    started = time.monotonic()
    with pytest.raises(runs.RunError) as caught:
        runs._execute(notebook, output, {}, progress=False)
    assert time.monotonic() - started < 120  # stopped, not slept through
    assert str(caught.value) == (f"sleeps.ipynb: a cell ran for more than 2 s and was stopped "
                                 f"(see {relative(failed)})")
    # The failed notebook is kept, up to where it stopped; the good one is not replaced.
    assert outputs_of(failed) == ["started\n", ""]
    assert output.read_text(encoding="utf-8") == "an earlier, good run's notebook"
    assert running_files(run_dir) == []


def test_papermills_output_never_goes_through_a_planted_link(tmp_path, run_dir, victim,
                                                             monkeypatch):
    """The temporary notebook once had a name anyone could guess (process id included)."""
    notebook = make_notebook(tmp_path / "quick.ipynb", "print('ran')")
    old_name = run_dir / f".quick.{os.getpid()}.running.ipynb"
    old_name.symlink_to(victim)
    created, real = [], runs.create_new
    monkeypatch.setattr(runs, "create_new", lambda path: created.append(path.name)
                        or real(path))
    output = run_dir / notebook.name
    runs._execute(notebook, output, {}, progress=False)
    assert victim.read_text(encoding="utf-8") == PRECIOUS
    assert not output.is_symlink() and outputs_of(output) == ["ran\n"]
    [name] = created
    assert re.fullmatch(rf"\.quick\.{os.getpid()}\.[0-9a-f]{{16}}\.running\.ipynb", name)
    assert running_files(run_dir) == [old_name.name]  # a live process's name: not ours


def test_a_link_at_the_random_name_itself_is_never_opened(tmp_path, run_dir, victim,
                                                          monkeypatch):
    notebook = make_notebook(tmp_path / "quick.ipynb", "print('ran')")
    monkeypatch.setattr(runs.secrets, "token_hex", lambda n: "0" * (2 * n))
    guessed = run_dir / f".quick.{os.getpid()}.{'0' * 16}.running.ipynb"
    guessed.symlink_to(victim)
    with pytest.raises(FileExistsError):
        runs._execute(notebook, run_dir / notebook.name, {}, progress=False)
    assert victim.read_text(encoding="utf-8") == PRECIOUS
    assert guessed.is_symlink() and not (run_dir / notebook.name).exists()


def test_a_failure_before_papermill_wrote_keeps_no_empty_notebook(tmp_path, run_dir,
                                                                  monkeypatch):
    """The temporary file is created before papermill starts: if papermill fails before it
    writes there (no kernel, say), an empty file is no failed notebook to keep."""
    def no_kernel(*args, **kwargs):
        raise RuntimeError("No such kernel named python3")

    monkeypatch.setattr(runs.papermill, "execute_notebook", no_kernel)
    notebook = make_notebook(tmp_path / "quick.ipynb", "print('ran')")
    with pytest.raises(RuntimeError, match="No such kernel"):
        runs._execute(notebook, run_dir / notebook.name, {}, progress=False)
    assert list(run_dir.iterdir()) == []


def test_the_temporary_notebooks_of_dead_processes_are_removed(run_dir):
    dead = 2**22 + 1  # above Linux's largest process id: no such process
    stale = [run_dir / f".quick.{dead}.0123456789abcdef.running.ipynb",
             run_dir / f".quick.{dead}.running.ipynb"]  # the name before the random part
    live = run_dir / f".quick.{os.getpid()}.0123456789abcdef.running.ipynb"
    for path in (*stale, live):
        path.write_text("{}")
    runs._remove_stale_executions(run_dir / "quick.ipynb")
    assert running_files(run_dir) == [live.name]
