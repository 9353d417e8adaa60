"""helpers.config: TrainConfig's home without TensorFlow, the presets, and the command line
(``--preset NAME -p NAME VALUE``) that helpers.runs and helpers.distributed share."""

import argparse
import dataclasses
import re
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


def test_every_preset_names_fields_and_validates():
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for name, values in PRESETS.items():
        assert set(values) <= fields, name
        made = TrainConfig.from_parameters(preset=name).validate()
        # "auto" is decided by validate(): a dtype this machine suits
        assert all(getattr(made, k) == v for k, v in values.items() if v != "auto")
        assert made.matmul_dtype in ("float32", "bfloat16")


def test_a_presets_warm_up_keeps_its_share_of_another_number_of_steps():
    """Read from the preset, whatever its numbers: a change of the preset is no failure."""
    main = PRESETS["main"]
    warmup, steps = main["warmup_steps"], main["max_steps"]
    assert 0 < warmup < steps  # what the rest needs: the main preset has a warm-up

    def warmup_for(parameters):
        return config.with_preset("main", parameters)["warmup_steps"]

    assert warmup_for({}) == warmup
    assert warmup_for({"max_steps": 2 * steps}) == 2 * warmup  # twice the steps, twice the warm-up
    for other in (100, 777, 3 * steps + 1):
        assert abs(warmup_for({"max_steps": other}) - other * warmup / steps) <= 0.5, other
    assert warmup_for({"max_steps": 1}) == 0  # always below max_steps
    # Your own warm-up is kept, and a bad max_steps is left for validate to name.
    assert warmup_for({"max_steps": 100, "warmup_steps": 50}) == 50
    assert warmup_for({"max_steps": "many"}) == warmup
    assert config.with_preset(None, {"max_steps": 100}) == {"max_steps": 100}
    made = TrainConfig.from_parameters({"max_steps": 100}, preset="main").validate()
    assert (made.max_steps, made.warmup_steps) == (100, warmup_for({"max_steps": 100}))


def test_from_parameters_puts_defaults_preset_and_values_together():
    yours = {"max_steps": 30, "hidden_nodes": 8}
    made = TrainConfig.from_parameters(yours, preset="main")
    defaults, preset = TrainConfig(), PRESETS["main"]
    # Steps asked for replace the preset's minutes, and its warm-up keeps its share of them.
    ruled = {"time_budget": defaults.time_budget,
             "warmup_steps": config.with_preset("main", yours).get("warmup_steps",
                                                                   defaults.warmup_steps)}
    assert dataclasses.asdict(made) == {**dataclasses.asdict(defaults), **preset, **ruled,
                                        **yours}
    # The three layers each decide something here: yours over the preset's, the preset's
    # over the defaults, and defaults where neither sets a value.
    assert set(yours) & set(preset) and set(preset) - set(yours) - set(ruled)
    assert {f.name for f in dataclasses.fields(TrainConfig)} - set(preset) - set(yours)
    assert TrainConfig.from_parameters() == TrainConfig()
    assert config.preset_values("main") is not PRESETS["main"]  # a copy
    with pytest.raises(ValueError, match="unknown parameter.s. hidden_nodez; TrainConfig takes "
                                         "batch_size, max_steps"):
        TrainConfig.from_parameters({"hidden_nodez": 8})
    with pytest.raises(ValueError, match="unknown preset 'mian'; the presets are main"):
        TrainConfig.from_parameters(preset="mian")


TYPES = config.field_types(TrainConfig, config.LessonSwitches, config.SamplingSettings)


@pytest.mark.parametrize("name, text, value", [
    ("max_steps", "3", 3), ("max_steps", "100_000", 100_000), ("learning_rate", "1e-3", 0.001),
    ("learning_rate", "2", 2.0), ("show_original", "false", False),
    ("show_original", "FALSE", False), ("show_original", "True", True),
    ("carry_state", "true", True), ("skip", "None", None), ("skip", "none", None),
    ("skip", "7", 7), ("text_file", "1984", "1984"), ("text_file", "None", None),
    ("output_dir", "None", "None"), ("test_start", "True", "True"), ("top_p", "0.9", 0.9),
])
def test_a_command_line_value_is_converted_by_its_fields_type(name, text, value):
    converted = config.convert(name, text, TYPES[name])
    assert converted == value and type(converted) is type(value)


@pytest.mark.parametrize("name, text, message", [
    ("max_steps", "1.5", "max_steps must be a whole number, got '1.5'"),
    ("max_steps", "None", "max_steps must be a whole number, got 'None'"),
    ("skip", "x", "skip must be a whole number or None, got 'x'"),
    ("learning_rate", "fast", "learning_rate must be a number, got 'fast'"),
    ("show_original", "no", "show_original must be true or false, got 'no'"),
    ("show_original", "0", "show_original must be true or false, got '0'"),
])
def test_a_value_that_does_not_convert_is_refused_naming_the_field(name, text, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        config.convert(name, text, TYPES[name])


def test_unknown_names_are_refused_listing_the_known_ones():
    with pytest.raises(ValueError, match="unknown parameter.s. hidden_nodez; the parameters "
                                         "are batch_size, max_steps"):
        config.convert_parameters([("hidden_nodez", "8")], config.field_types(TrainConfig))


def test_lesson_switches_are_validated_like_fields():
    assert config.LessonSwitches(show_original=False).validate().show_original is False
    with pytest.raises(ValueError, match="show_original must be True or False, got 'false'"):
        config.LessonSwitches(show_original="false").validate()


def parse(argv, preset=None):
    parser = argparse.ArgumentParser()
    config.add_parameter_options(parser, preset)
    return parser.parse_args(argv)


def test_the_command_line_reads_presets_and_pairs(tmp_path):
    args = parse(["-p", "max_steps", "30", "-p", "learning_rate", "0.01", "-p", "skip", "None",
                  "-p", "text_file", "notes.txt"], preset="main")
    assert args.preset == "main"
    kinds = config.field_types(TrainConfig)
    assert config.convert_parameters(args.parameter, kinds, here=tmp_path) == {
        "max_steps": 30, "learning_rate": 0.01, "skip": None,
        "text_file": str(tmp_path / "notes.txt")}
    assert parse([]).preset is None and config.convert_parameters(parse([]).parameter, kinds) == {}
    with pytest.raises(SystemExit):
        parse(["--preset", "nope"])


def test_a_relative_path_on_the_command_line_is_taken_from_the_current_folder(tmp_path):
    inside = REPO_ROOT / "tests" / "fixtures"
    assert config.paths_from_here({"text_file": "tiny.txt", "max_steps": 5}, here=inside) == \
        {"text_file": "tests/fixtures/tiny.txt", "max_steps": 5}
    assert config.paths_from_here({"text_file": ["a.txt", None]}, here=tmp_path) == \
        {"text_file": [str(tmp_path / "a.txt"), None]}
    assert config.paths_from_here({"text_file": str(tmp_path / "b.txt")}, here=inside) == \
        {"text_file": str(tmp_path / "b.txt")}


def test_steps_asked_for_replace_the_presets_minutes():
    assert config.with_preset("main", {})["time_budget"] == PRESETS["main"]["time_budget"]
    assert "time_budget" not in config.with_preset("main", {"max_steps": 100})
    assert "time_budget" not in config.with_preset("main", {}, leave_out=("max_steps",))
    both = config.with_preset("main", {"max_steps": 100, "time_budget": 5})
    assert (both["max_steps"], both["time_budget"]) == (100, 5)
