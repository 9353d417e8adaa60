"""Faults a user meets, made to happen for real, each answered in one line: a read-only outputs
folder for the main job, a damaged progression.json on resume, a vocabulary edited by hand, and
notebook 05 on a model whose text has a single character."""

import json
import re

import nbformat
import papermill
import pytest
from conftest import tiny

from helpers import runs
from helpers.checkpoints import load_run
from helpers.training import train


def test_the_main_job_into_a_read_only_outputs_folder_is_one_line(read_only, capsys):
    assert runs.main(["main", "--outputs", str(read_only), "-p", "max_steps", "5"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_the_main_job_into_a_read_only_run_folder_is_one_line(read_only, tmp_path, capsys):
    """A run folder that exists but cannot be written (a read-only share, a downloaded run):
    runs/NAME is the fixture's read-only run/, reached through a runs/ link in outputs/."""
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    (outputs / "runs").symlink_to(read_only)
    argv = ["main", "--outputs", str(outputs), "--name", "run", "-p", "max_steps", "5"]
    assert runs.main(argv) == 1
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert re.fullmatch(r"error: output_dir '.*read-only/run' cannot be written: (Permission "
                        r"denied|Operation not permitted)\n", err), err
    assert "training:" not in out  # refused before 04 ran
    assert sorted(p.name for p in (read_only / "run").iterdir()) == ["config.json"]


@pytest.mark.slow  # trains
def test_a_damaged_progression_record_does_not_block_resuming(tmp_path):
    train(tiny(tmp_path, max_steps=5, sample_chars=20), progress=False, verbose=False)
    progression = tmp_path / "run" / "progression.json"
    progression.write_text("{not json", encoding="utf-8")
    history = train(tiny(tmp_path, max_steps=10, sample_chars=20), progress=False,
                    verbose=False)
    assert history[-1]["step"] == 10
    assert [row["step"] for row in json.loads(progression.read_text("utf-8"))] == [10]


@pytest.mark.slow  # trains
def test_a_vocabulary_edited_by_hand_is_named(tmp_path):
    train(tiny(tmp_path, max_steps=5), progress=False, verbose=False)
    path = tmp_path / "run" / "vocabulary.json"
    vocabulary = json.loads(path.read_text("utf-8"))
    vocabulary["chars"] = vocabulary["chars"][:-1]  # a character removed, still sorted
    path.write_text(json.dumps(vocabulary), encoding="utf-8")
    with pytest.raises(ValueError, match=r"was trained with \d+ character ids, but the "
                                         r"vocabulary it is loaded with has \d+: was "
                                         r"vocabulary.json changed by hand\?"):
        load_run(tmp_path / "run")


@pytest.mark.slow
@pytest.mark.system  # papermill
def test_05_runs_on_a_vocabulary_of_one_character(tmp_path):
    text = tmp_path / "a.txt"
    text.write_text("a" * 20_000, encoding="utf-8")
    train(tiny(tmp_path, max_steps=5, text_file=str(text)), progress=False, verbose=False)
    executed = tmp_path / "05.ipynb"
    papermill.execute_notebook(str(runs.SAMPLING), str(executed), kernel_name="python3",
                               parameters={"run_dir": str(tmp_path / "run"),
                                           "test_start": "aaa", "num_chars": 20},
                               cwd=str(runs.NOTEBOOKS), progress_bar=False,
                               execution_timeout=300)
    notebook = nbformat.read(executed, as_version=4)
    assert not [o for cell in notebook.cells for o in cell.get("outputs", [])
                if o.output_type == "error"]
