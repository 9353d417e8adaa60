"""Reading runs back for notebook 06 (helpers.comparing: read_sweep, read_runs), on made folders.

Fast: no TensorFlow, no papermill. The real sweep, whose files these mimic, is in test_runs.py.
"""

import csv
import json

import pytest

from helpers import comparing


def _history(*valid):
    return [{"step": 100 * (i + 1), "train_bpc": v + 0.1, "valid_bpc": v, "chars_per_sec": 1000.0,
             "elapsed": 10.0 * (i + 1), "peak_rss_mb": 500.0} for i, v in enumerate(valid)]


def _run(folder, config, valid, sample=None):
    folder.mkdir(parents=True)
    (folder / "history.json").write_text(json.dumps(_history(*valid)))
    (folder / "config.json").write_text(json.dumps(config))
    if sample is not None:
        (folder / "samples.json").write_text(json.dumps({
            "prompt": "I plan", "step": 100 * len(valid),
            "samples": [{"text": sample, "temperature": 0.8}]}))
    return folder


def test_read_runs_finds_what_the_runs_differ_in(tmp_path):
    _run(tmp_path / "a", {"hidden_nodes": 64, "seed": 0, "output_dir": "x"}, [3.0, 2.5], "abc")
    _run(tmp_path / "b", {"hidden_nodes": 128, "seed": 0, "output_dir": "y"}, [2.8])
    (tmp_path / "c").mkdir()  # started, never logged
    comparison = comparing.read_runs(tmp_path)
    assert [r.name for r in comparison.finished] == ["a", "b"]
    assert [r.name for r in comparison.failed] == ["c"]
    assert "first log" in comparison.failed[0].error
    assert comparison.swept == ["hidden_nodes"]  # output_dir differs too, but is not a setting
    a = comparison.finished[0]
    assert a.values == {"hidden_nodes": 64}
    assert a.metrics["best_valid_bpc"] == 2.5 and a.metrics["steps"] == 200
    lines = comparison.table().splitlines()
    assert lines[0].split()[:3] == ["run", "hidden_nodes", "status"]
    assert lines[2].split()[:5] == ["a", "64", "ok", "200", "2.500"]
    assert lines[4].split()[:4] == ["c", "failed", "-", "-"]


def test_a_damaged_run_is_listed_as_failed_and_the_rest_compared(tmp_path):
    """One damaged run made notebook 06 fail for every run in the folder."""
    _run(tmp_path / "good", {"hidden_nodes": 64}, [3.0, 2.5], "abc")
    damaged = _run(tmp_path / "no-elapsed", {"hidden_nodes": 128}, [2.8])
    rows = json.loads((damaged / "history.json").read_text())
    del rows[0]["elapsed"]  # read unchecked, it was a KeyError for the whole comparison
    (damaged / "history.json").write_text(json.dumps(rows))
    _run(tmp_path / "bad-error", {"hidden_nodes": 256}, [2.7])
    (tmp_path / "bad-error" / "error.json").write_text("{cut short")
    comparison = comparing.read_runs(tmp_path)
    assert [r.name for r in comparison.finished] == ["good"]
    failed = {r.name: r.error for r in comparison.failed}
    assert failed["no-elapsed"].endswith("no-elapsed/history.json is damaged: row 0 (step 100) "
                                         "has no number for elapsed (None)")
    assert "bad-error/error.json is damaged: it is not valid JSON" in failed["bad-error"]
    lines = comparison.table().splitlines()
    assert [line.split()[:2] for line in lines[2:]] == [
        ["bad-error", "failed"], ["good", "ok"], ["no-elapsed", "failed"]]


def test_an_older_history_holding_a_bare_nan_is_a_diverged_run(tmp_path):
    """Before history files were strict JSON, a diverged run wrote a bare NaN into them."""
    _run(tmp_path / "good", {"seed": 0}, [3.0])
    diverged = _run(tmp_path / "lr1e300", {"seed": 0}, [3.0, 2.9])
    text = (diverged / "history.json").read_text()
    (diverged / "history.json").write_text(text.replace('"valid_bpc": 2.9', '"valid_bpc": NaN'))
    assert "NaN" in (diverged / "history.json").read_text()
    comparison = comparing.read_runs(tmp_path)
    assert [r.name for r in comparison.finished] == ["good"]
    [failed] = comparison.failed
    assert failed.name == "lr1e300"
    assert failed.error == "diverged: its loss is not a finite number at step 200"


def test_a_sweep_run_with_a_damaged_history_is_listed_as_failed(tmp_path):
    for name in ("max_steps=100", "max_steps=300"):
        _run(tmp_path / name, {"max_steps": int(name.split("=")[1])}, [3.1])
        (tmp_path / name / "metrics.json").write_text(json.dumps({
            "steps": 100, "train_bpc": 3.2, "valid_bpc": 3.1, "best_valid_bpc": 3.1,
            "chars_per_sec": 900.0, "training_time_s": 12.0, "peak_rss_mb": 400.0,
            "config": {}}))
    (tmp_path / "max_steps=300" / "history.json").write_text('[{"step": 100}]')
    (tmp_path / "summary.csv").write_text("run,max_steps,status,error\n"
                                          "max_steps=100,100,ok,\nmax_steps=300,300,ok,\n")
    comparison = comparing.read_sweep(tmp_path)
    assert [(r.name, r.status) for r in comparison.runs] == [
        ("max_steps=100", "ok"), ("max_steps=300", "failed")]
    assert "history.json is damaged: row 0 (step 100) has no number for train_bpc" in \
        comparison.failed[0].error
    assert comparison.failed[0].values == {"max_steps": "300"}


def test_read_sweep_follows_summary_csv(tmp_path):
    _run(tmp_path / "max_steps=100", {"max_steps": 100}, [3.1], "xyz")
    (tmp_path / "max_steps=100" / "metrics.json").write_text(json.dumps({
        "steps": 100, "train_bpc": 3.2, "valid_bpc": 3.1, "best_valid_bpc": 3.1,
        "chars_per_sec": 900.0, "training_time_s": 12.0, "wall_time_s": 30.0,
        "peak_rss_mb": 400.0, "config": {"max_steps": 100}}))
    with open(tmp_path / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["run", "max_steps", "status", "error", "steps"])
        writer.writeheader()
        writer.writerow({"run": "max_steps=100", "max_steps": "100", "status": "ok",
                         "error": "", "steps": "100"})
        writer.writerow({"run": "max_steps=300", "max_steps": "300", "status": "failed",
                         "error": "ValueError: boom", "steps": ""})
    comparison = comparing.read_sweep(tmp_path)
    assert comparison.swept == ["max_steps"]
    assert [(r.name, r.status) for r in comparison.runs] == [
        ("max_steps=100", "ok"), ("max_steps=300", "failed")]
    assert comparison.failed[0].error == "ValueError: boom"
    assert "30.0" in comparison.table().splitlines()[2]  # wall time from metrics.json
    text = comparing.samples_side_by_side(comparison.finished)
    assert text.startswith("prompt: 'I plan'") and "xyz" in text and "temperature 0.8" in text
    (tmp_path / "max_steps=100" / "samples.json").write_text(json.dumps({
        "prompt": "I plan", "step": 100,
        "samples": [{"text": "a 1 @,@ 000 @-@ ton ship ( 24 in ) .", "temperature": 0.8}]}))
    shown = comparing.samples_side_by_side(comparing.read_sweep(tmp_path).finished)
    assert "a 1,000-ton ship (24 in)." in shown  # shown readable


def test_an_ok_run_without_metrics_is_an_error(tmp_path):
    _run(tmp_path / "r", {}, [3.0])
    (tmp_path / "summary.csv").write_text("run,status,error\nr,ok,\n")
    with pytest.raises(FileNotFoundError, match="no metrics.json"):
        comparing.read_sweep(tmp_path)


def test_missing_folders_say_how_to_make_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="A sweep creates it"):
        comparing.read_sweep(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="has no summary.csv"):
        comparing.read_sweep(tmp_path)
    with pytest.raises(FileNotFoundError, match="holds no runs yet"):
        comparing.read_runs(tmp_path)
    with pytest.raises(TypeError, match="folder path"):
        comparing.read_runs(3)


def test_samples_in_columns_wrap_and_label_each_run(tmp_path):
    for name, prompt in (("a", "I plan"), ("b", "The")):
        folder = _run(tmp_path / name, {"seed": 0}, [3.0], "word " * 40)
        samples = json.loads((folder / "samples.json").read_text())
        samples["prompt"] = prompt
        (folder / "samples.json").write_text(json.dumps(samples))
    text = comparing.samples_side_by_side(comparing.read_runs(tmp_path).finished, width=61)
    lines = text.splitlines()
    assert not text.startswith("prompt:")  # prompts differ: each column shows its own
    assert lines[0].split("|")[0].strip() == "a" and lines[0].split("|")[1].strip() == "b"
    assert "[I plan] word" in text and "[The] word" in text
    assert max(len(line) for line in lines) <= 61


def test_a_history_plots_its_carried_validation_only_when_asked():
    import matplotlib

    matplotlib.use("Agg")
    from helpers.plots import plot_history

    rows = [{"step": 0, "train_bpc": 8.0, "valid_bpc": 8.0, "valid_bpc_carried": 7.9},
            {"step": 50, "train_bpc": 3.1, "valid_bpc": 3.0, "valid_bpc_carried": 2.9}]
    plain, carried = plot_history(rows), plot_history(rows, carried=True)
    assert [line.get_label() for line in plain.lines] == ["train", "validation"]
    assert carried.lines[-1].get_label() == "validation, state carried"
    assert list(carried.lines[-1].get_ydata()) == [7.9, 2.9]
