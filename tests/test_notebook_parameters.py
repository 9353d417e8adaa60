"""Notebook 04's parameters are TrainConfig's fields (and the lesson switches), 05's are
SamplingSettings', each with its default: one source.

papermill lists them (`papermill --help-notebook notebooks/04_training.ipynb`); a field added to
TrainConfig without a parameter, or a default changed on one side only, fails here.
"""

import ast
import dataclasses

import papermill

from helpers.config import LessonSwitches, SamplingSettings, TrainConfig
from helpers.paths import REPO_ROOT

TRAINING = REPO_ROOT / "notebooks" / "04_training.ipynb"
OWN_FOLDER = {"output_dir"}  # the notebook's run has a folder of its own
LESSON = {f.name: f.default for f in dataclasses.fields(LessonSwitches)}


def test_notebook_04_takes_every_trainconfig_field_with_its_default():
    parameters = papermill.inspect_notebook(str(TRAINING))
    fields = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    assert set(parameters) - set(LESSON) == set(fields), (set(parameters) ^ set(fields))
    for name, default in LESSON.items():
        assert ast.literal_eval(parameters[name]["default"]) == default, name
    for name, default in fields.items():
        stated = ast.literal_eval(parameters[name]["default"])
        if name in OWN_FOLDER:
            assert stated != default
        else:
            assert stated == default, f"{name}: {stated!r} in 04, {default!r} in TrainConfig"


def test_every_parameter_is_explained_in_its_line():
    for name, parameter in papermill.inspect_notebook(str(TRAINING)).items():
        if name != "seed":
            assert parameter["help"], f"{name} has no comment saying what it is"


def test_notebook_05_takes_every_sampling_setting_with_its_default():
    parameters = papermill.inspect_notebook(str(TRAINING.with_name("05_sampling.ipynb")))
    fields = {f.name: f.default for f in dataclasses.fields(SamplingSettings)}
    assert set(parameters) == set(fields), set(parameters) ^ set(fields)
    for name, default in fields.items():
        assert ast.literal_eval(parameters[name]["default"]) == default, name
