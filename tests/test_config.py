"""helpers.config: TrainConfig's home without TensorFlow, the presets, and the command line
(``--preset NAME -p NAME VALUE``) that helpers.runs and helpers.distributed share."""

import argparse
import dataclasses
import subprocess
import sys

import pytest

from helpers import config
from helpers.config import PRESETS, TrainConfig
from helpers.paths import REPO_ROOT


@pytest.mark.system
def test_importing_the_configuration_loads_no_tensorflow():
    code = ("import sys, helpers.config, helpers.runs; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'keras') or m == 'helpers.backend'))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_main_preset_is_the_main_jobs_longer_run():
    assert PRESETS["main"] == {"max_steps": 4000, "log_every": 250, "save_every": 500,
                               "hidden_nodes": 512, "dropout": 0.5, "recurrent_dropout": 0.25,
                               "learning_rate": 0.008, "warmup_steps": 200,
                               "lr_schedule": "cosine"}
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for name, values in PRESETS.items():
        assert set(values) <= fields, name
        TrainConfig.from_parameters(preset=name).validate()


def test_a_presets_warm_up_keeps_its_share_of_another_number_of_steps():
    planned = PRESETS["main"]["warmup_steps"] / PRESETS["main"]["max_steps"]
    assert planned == 200 / 4000
    assert config.with_preset("main", {"max_steps": 100})["warmup_steps"] == 5
    assert config.with_preset("main", {"max_steps": 8000})["warmup_steps"] == 400
    assert config.with_preset("main", {"max_steps": 1})["warmup_steps"] == 0  # below max_steps
    assert config.with_preset("main", {})["warmup_steps"] == 200
    # Your own warm-up is kept, and a bad max_steps is left for validate to name.
    assert config.with_preset("main", {"max_steps": 100, "warmup_steps": 50})["warmup_steps"] == 50
    assert config.with_preset("main", {"max_steps": "many"})["warmup_steps"] == 200
    assert config.with_preset(None, {"max_steps": 100}) == {"max_steps": 100}
    made = TrainConfig.from_parameters({"max_steps": 100}, preset="main").validate()
    assert (made.max_steps, made.warmup_steps) == (100, 5)


def test_from_parameters_puts_defaults_preset_and_values_together():
    made = TrainConfig.from_parameters({"max_steps": 30, "hidden_nodes": 8}, preset="main")
    assert (made.max_steps, made.log_every, made.save_every, made.hidden_nodes) == \
        (30, 250, 500, 8)
    assert made.batch_size == TrainConfig().batch_size
    assert TrainConfig.from_parameters() == TrainConfig()
    assert config.preset_values("main") is not PRESETS["main"]  # a copy
    with pytest.raises(ValueError, match="unknown parameter.s. hidden_nodez; TrainConfig takes "
                                         "batch_size, max_steps"):
        TrainConfig.from_parameters({"hidden_nodez": 8})
    with pytest.raises(ValueError, match="unknown preset 'mian'; the presets are main"):
        TrainConfig.from_parameters(preset="mian")


def test_training_reexports_the_same_objects():
    from helpers import training

    assert training.TrainConfig is TrainConfig and training.PRESETS is PRESETS


@pytest.mark.parametrize("text, value", [
    ("3", 3), ("-5", -5), ("0.5", 0.5), ("1e-3", 0.001), ("True", True), ("False", False),
    ("None", None), ("test", "test"), ("outputs/runs", "outputs/runs"), ("true", "true"),
])
def test_parse_value_follows_papermill(text, value):
    parsed = config.parse_value(text)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("value", [3, -5, 0.01, 1e-5, 1.0, True, False, None, "outputs/x",
                                   "a b", float("inf")])
def test_format_value_is_read_back_as_it_was(value):
    back = config.parse_value(config.format_value("x", value))
    assert back == value and type(back) is type(value)


@pytest.mark.parametrize("value", ["3", "None", "True", "1e3"])
def test_text_that_would_be_read_as_another_value_is_refused(value):
    with pytest.raises(ValueError, match=f"output_dir='{value}' cannot be written as -p"):
        config.format_value("output_dir", value)


def parse(argv, preset=None):
    parser = argparse.ArgumentParser()
    config.add_parameter_options(parser, preset)
    return parser.parse_args(argv)


def test_the_command_line_reads_presets_and_pairs(tmp_path):
    args = parse(["-p", "max_steps", "30", "-p", "learning_rate", "0.01", "-p", "skip", "None",
                  "-p", "text_file", "notes.txt"], preset="main")
    assert args.preset == "main"
    assert config.parameters_from_args(args, here=tmp_path) == {
        "max_steps": 30, "learning_rate": 0.01, "skip": None,
        "text_file": str(tmp_path / "notes.txt")}
    assert parse([]).preset is None and config.parameters_from_args(parse([])) == {}
    with pytest.raises(SystemExit):
        parse(["--preset", "nope"])
    pairs = {"max_steps": 30, "learning_rate": 0.01, "skip": None, "output_dir": "runs/x"}
    assert config.parameters_from_args(parse(config.parameter_args(pairs))) == pairs


def test_a_relative_path_on_the_command_line_is_taken_from_the_current_folder(tmp_path):
    inside = REPO_ROOT / "tests" / "fixtures"
    assert config.paths_from_here({"text_file": "tiny.txt", "max_steps": 5}, here=inside) == \
        {"text_file": "tests/fixtures/tiny.txt", "max_steps": 5}
    assert config.paths_from_here({"text_file": ["a.txt", None]}, here=tmp_path) == \
        {"text_file": [str(tmp_path / "a.txt"), None]}
    assert config.paths_from_here({"text_file": str(tmp_path / "b.txt")}, here=inside) == \
        {"text_file": str(tmp_path / "b.txt")}
