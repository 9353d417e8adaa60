"""helpers.rundir: the one reader and writer of a run directory's files (no TensorFlow)."""

import ast

import pytest

from helpers import rundir, runs
from helpers.paths import REPO_ROOT, DamagedFileError

FILES = [  # (reader, writer, a value, what a missing file reads as)
    (rundir.read_config, rundir.write_config, {"hidden_nodes": 8}, None),
    (rundir.read_corpus, rundir.write_corpus, {"text_file": "a.txt", "sha256": "0" * 64}, None),
    (rundir.read_history, rundir.write_history,
     [{"step": 0, "train_bpc": 8.0, "valid_bpc": 8.0, "elapsed": 0.0}], []),
    (rundir.read_progression, rundir.write_progression, [{"step": 0, "text": "é"}], []),
    (rundir.read_metrics, rundir.write_metrics, {"steps": 100}, None),
    (rundir.read_error, rundir.write_error, {"error": "ValueError: x"}, None),
]


@pytest.mark.parametrize("read, write, value, missing", FILES)
def test_each_file_reads_back_what_was_written(tmp_path, read, write, value, missing):
    assert read(tmp_path) == missing
    write(tmp_path, value)
    assert read(tmp_path) == value
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_samples_are_json_and_text(tmp_path):
    assert rundir.read_samples(tmp_path) is None
    record = {"prompt": "I plan", "step": 100, "samples": [{"text": " to", "temperature": 0.8}]}
    rundir.write_samples(tmp_path, record, "I plan to\n")
    assert rundir.read_samples(tmp_path) == record
    assert (tmp_path / rundir.SAMPLES_TEXT).read_text("utf-8") == "I plan to\n"


def test_a_damaged_file_is_named_and_of_the_wrong_kind_too(tmp_path):
    (tmp_path / rundir.METRICS).write_text("{not json")
    with pytest.raises(DamagedFileError, match="metrics.json is damaged: it is not valid JSON"):
        rundir.read_metrics(tmp_path)
    (tmp_path / rundir.HISTORY).write_text('{"step": 1}')
    with pytest.raises(DamagedFileError, match="history.json is damaged: it should hold a list"):
        rundir.read_history(tmp_path)


def test_a_sweep_reads_its_runs_through_rundir(tmp_path):
    run_dir = tmp_path / "max_steps=5"
    run_dir.mkdir()
    rundir.write_error(run_dir, {"error": "ValueError: bad", "traceback": ""})
    assert runs._summary_row({"max_steps": 5}, run_dir)["error"] == "ValueError: bad"
    rundir.write_metrics(run_dir, {"steps": 5, "valid_bpc": 3.0})
    row = runs._summary_row({"max_steps": 5}, run_dir)
    assert (row["status"], row["steps"], row["valid_bpc"]) == ("ok", 5, 3.0)


def test_no_other_module_builds_a_run_file_path_by_name():
    """``run_dir / "metrics.json"`` and the like are written in rundir alone (a message that
    names a file is text, not a path, and may)."""
    names = {rundir.CONFIG, rundir.CORPUS, rundir.HISTORY, rundir.PROGRESSION, rundir.SAMPLES,
             rundir.SAMPLES_TEXT, rundir.METRICS, rundir.ERROR, rundir.VOCABULARY}
    found = []
    for path in sorted((REPO_ROOT / "helpers").glob("*.py")):
        if path.name == "rundir.py":
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and \
                    isinstance(node.right, ast.Constant) and node.right.value in names:
                found.append(f"{path.name}:{node.lineno} / {node.right.value!r}")
    assert found == []
