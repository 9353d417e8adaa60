"""Every setting in one place, typed by its default: ``TrainConfig`` (training, notebook 04),
``SamplingSettings`` (notebook 05), the lesson switches of 04, the named presets, and the
``--preset NAME -p NAME VALUE`` command line that ``helpers.runs`` and ``helpers.distributed``
share.

A value given on a command line is converted by the type of its field, never guessed:
``-p text_file 1984`` stays the text ``"1984"``, ``-p show_original false`` is False, ``None``
is accepted where the field allows it, and a value that does not convert is refused, naming
the field. A relative ``text_file`` there is taken from the current folder (``TrainConfig``
takes it from the repository root, so it is rewritten).

This module imports nothing heavy (no TensorFlow, no download code), so the launchers stay
light and a distributed worker checks its settings before it sets up its strategy, which must
come before TensorFlow is imported.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path

from helpers.checks import check_int, check_number, matmul_dtype_for_this_cpu
from helpers.paths import REPO_ROOT, check_regular_file, relative, resolve_from_root

SPLITS = ("train", "valid", "test")  # WikiText-2's
DEFAULT_PROMPT = "I plan to make the world a better place"  # the original tutorial's prompt
DEFAULT_TEMPERATURE = 0.8
LR_SCHEDULES = ("constant", "cosine")
CELLS = ("four_gate", "keras")  # our FourGateLSTM, or keras.layers.LSTM
# "auto": bfloat16 where the CPU multiplies it in hardware, float32 elsewhere
MATMUL_DTYPES = ("float32", "bfloat16", "auto")

#: Named sets of values over TrainConfig's defaults. "main" is the main job's longer run
#: (``make run``, ``python -m helpers.runs main``): the best of the settings docs/results.md
#: compares, trained for 15 minutes by budget (a slower machine trains fewer steps). A wider
#: model ends lower until its slower steps fit too few, and without dropout on its outputs and
#: recurrent weights would learn the 1.3 million characters of training text by heart; of the
#: optimisers tried, a high rate, reached over a short warm-up and decaying to zero, with
#: Adam's mean of squared gradients over about twenty steps, ended lowest; batches of 32 fit
#: more steps than 64. The warm-up keeps its share of max_steps when the budget or another
#: max_steps replaces them (``with_preset``).
PRESETS = {
    "main": {"batch_size": 32, "max_steps": 4000, "log_every": 250, "save_every": 500,
             "hidden_nodes": 768, "dropout": 0.5, "recurrent_dropout": 0.1,
             "learning_rate": 0.012, "adam_beta2": 0.95, "warmup_steps": 200,
             "lr_schedule": "cosine", "lr_floor": 0.0, "time_budget": 15.0, "matmul_dtype": "auto"},
}


@dataclass
class TrainConfig:
    """Every training hyperparameter, in one visible place.

    Names follow the original tutorial where they mean the same thing. ``output_dir`` is
    relative to the repository root unless absolute, so a notebook run from any folder
    writes to the same place. ``PRESETS`` names sets of values over these defaults
    (``from_parameters`` puts a preset and other values together).
    """

    batch_size: int = 64
    max_steps: int = 500
    log_every: int = 50
    save_every: int = 250
    hidden_nodes: int = 256
    len_per_section: int = 100
    skip: int | None = None  # window stride; None: len_per_section (windows do not overlap)
    # Each batch row a stream through the text, its state carried between steps (truncated BPTT)
    carry_state: bool = False
    learning_rate: float = 5e-3
    lr_schedule: str = "constant"  # or "cosine": decays to lr_floor's share by max_steps
    lr_floor: float = 0.1  # the share of learning_rate that "cosine" ends at
    warmup_steps: int = 0  # steps over which the rate climbs from 0 to learning_rate
    weight_decay: float = 0.0  # AdamW's decoupled weight decay (0: plain Adam)
    adam_beta2: float = 0.999  # the share of Adam's mean of squared gradients kept each step
    # Validate and sample a moving average of the weights, keeping this share at each step
    ema_decay: float = 0.0
    seed: int = 0
    # Minutes that training (with its validations) may take: the run times its first steps and
    # fixes max_steps to fit, the warm-up keeping its share (None: max_steps as given).
    time_budget: float | None = None
    train_split: str = "test"  # as in the original tutorial; "train" whenever you have it
    valid_split: str = "valid"
    output_dir: str = "outputs/runs/default"
    num_layers: int = 1
    embedding_dim: int | None = None  # None: one-hot input (a row lookup in the kernel)
    dropout: float = 0.0  # on each LSTM layer's outputs, during training only
    # A share of the recurrent weights dropped for each batch, in training (four-gate cell only)
    recurrent_dropout: float = 0.0
    clip_norm: float = 1.0
    cell: str = "four_gate"  # or "keras" for keras.layers.LSTM
    # The recurrent products' dtype: "bfloat16" is faster on a CPU with bfloat16 matrix units,
    # slower elsewhere, and "auto" chooses (the weights, gates and memory stay float32)
    matmul_dtype: str = "float32"
    valid_chars: int = 100_000  # the fixed first part of valid_split that validation reads
    data_dir: str | None = None  # where the WikiText files are; None: helpers.data decides
    # Your own UTF-8 text instead of WikiText-2 (relative to the repository root unless
    # absolute): training reads its first part, validation its last valid_fraction.
    text_file: str | None = None
    valid_fraction: float = 0.1
    # At each log, this many characters sampled from the prompt into progression.json, so a
    # run keeps how its text developed (0: none).
    sample_chars: int = 200

    def validate(self) -> TrainConfig:
        """Raise ``ValueError`` naming the parameter, before TensorFlow does any work."""
        for name in ("batch_size", "max_steps", "log_every", "save_every", "hidden_nodes",
                     "len_per_section", "num_layers", "valid_chars"):
            check_int(name, getattr(self, name))
        if self.valid_chars <= self.len_per_section:
            raise ValueError(f"valid_chars={self.valid_chars} must exceed len_per_section="
                             f"{self.len_per_section}: validation reads at least one sequence")
        check_int("sample_chars", self.sample_chars, minimum=0)
        check_int("warmup_steps", self.warmup_steps, minimum=0)
        if self.warmup_steps >= self.max_steps:
            raise ValueError(f"warmup_steps={self.warmup_steps} must be below max_steps="
                             f"{self.max_steps}")
        if not isinstance(self.carry_state, bool):
            raise ValueError(f"carry_state must be True or False, got {self.carry_state!r}")
        if self.carry_state and self.skip is not None:
            raise ValueError("skip must be None with carry_state=True: each row reads its "
                             "stream section after section, with nothing skipped or repeated")
        check_number("weight_decay", self.weight_decay, 0, must="be a number >= 0")
        for name in ("skip", "embedding_dim"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name))
        check_number("time_budget", self.time_budget, 0, low_open=True, none_ok=True,
                     must="be a positive number of minutes or None")
        for name in ("learning_rate", "clip_norm"):
            check_number(name, getattr(self, name), 0, low_open=True, must="be a positive number")
        # NumPy's global seed, which Keras sets, must fit in 32 bits.
        check_int("seed", self.seed, minimum=0)
        check_number("seed", self.seed, 0, 2**32 - 1, must="be an integer from 0 to 2**32 - 1")
        for name in ("dropout", "recurrent_dropout", "ema_decay", "adam_beta2", "lr_floor"):
            check_number(name, getattr(self, name), 0, 1, high_open=True, must="lie in [0, 1)")
        if self.recurrent_dropout and self.cell != "four_gate":
            raise ValueError("recurrent_dropout needs cell='four_gate' (it drops weights of our "
                             f"recurrent kernel), got cell={self.cell!r}")
        for name, choices in (("lr_schedule", LR_SCHEDULES), ("cell", CELLS),
                              ("matmul_dtype", MATMUL_DTYPES), ("train_split", SPLITS),
                              ("valid_split", SPLITS)):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {choices}, got "
                                 f"{getattr(self, name)!r}")
        self.matmul_dtype = self.chosen_matmul_dtype  # so that config.json says which
        if self.matmul_dtype != "float32" and self.cell != "four_gate":
            raise ValueError(f"matmul_dtype={self.matmul_dtype!r} needs cell='four_gate', "
                             f"got cell={self.cell!r}")
        if not isinstance(self.output_dir, (str, os.PathLike)) or not str(self.output_dir):
            raise ValueError(f"output_dir must be a directory path, got {self.output_dir!r}")
        _validate_text_file(self)
        return self

    @property
    def chosen_matmul_dtype(self) -> str:
        """``matmul_dtype``, "auto" decided for this CPU (and cell: Keras's is float32)."""
        if self.matmul_dtype == "auto" and self.cell == "four_gate":
            return matmul_dtype_for_this_cpu()
        return "float32" if self.matmul_dtype == "auto" else self.matmul_dtype

    @property
    def run_dir(self) -> Path:
        return resolve_from_root(self.output_dir)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_parameters(cls, parameters: dict | None = None,
                        preset: str | None = None) -> TrainConfig:
        """The defaults, under ``PRESETS[preset]``'s values, under ``parameters``: what
        ``--preset NAME -p NAME VALUE ...`` asks for. A name that is not a field is a
        ``ValueError`` listing the fields. Not validated yet (``validate`` does that)."""
        values = with_preset(preset, parameters or {})
        fields = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; TrainConfig takes "
                             f"{', '.join(fields)}")
        return cls(**values)

    @classmethod
    def from_json(cls, payload: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in payload.items() if k in known})


def _validate_text_file(config: TrainConfig) -> None:
    """text_file names an existing file (load_corpus's message if not); valid_fraction fits."""
    check_number("valid_fraction", config.valid_fraction, 0, 1, low_open=True, high_open=True,
                 must="lie strictly between 0 and 1")
    if config.text_file is None:
        return
    if not isinstance(config.text_file, (str, os.PathLike)) or not str(config.text_file):
        raise ValueError(f"text_file must be the path of a text file or None, got "
                         f"{config.text_file!r}")
    config.text_file = os.fspath(config.text_file)  # a Path would not go into config.json
    if config.data_dir is not None:
        raise ValueError("text_file and data_dir are both set: data_dir is where WikiText-2 "
                         "lies, and with a text_file it is not read; leave data_dir None")
    try:
        check_regular_file(resolve_from_root(config.text_file))
    except OSError as exc:
        raise ValueError(f"text_file: {exc}") from None


def preset_values(name: str | None) -> dict:
    """A copy of preset ``name``'s values (None: no preset, an empty dict)."""
    if name is None:
        return {}
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; the presets are {', '.join(PRESETS)}")
    return dict(PRESETS[name])


def with_preset(name: str | None, parameters: dict, leave_out=()) -> dict:
    """Preset ``name``'s values (less the names in ``leave_out``) under ``parameters``.

    A preset's warm-up is planned for its own ``max_steps``: given another ``max_steps`` and no
    ``warmup_steps``, the warm-up keeps its share of the run (the main preset's 200 of 4,000
    steps become 5 of 100), so that ``make run MAX_STEPS=100`` still has a schedule that fits.
    A ``max_steps`` asked for replaces the preset's ``time_budget``: steps, not minutes.
    """
    values = {k: v for k, v in preset_values(name).items() if k not in leave_out}
    if ("max_steps" in parameters or "max_steps" in leave_out) and "time_budget" not in parameters:
        values.pop("time_budget", None)  # steps asked for: they replace the preset's minutes
    steps = parameters.get("max_steps")
    if ("warmup_steps" in values and "max_steps" in values and "warmup_steps" not in parameters
            and isinstance(steps, int) and not isinstance(steps, bool) and steps > 0):
        share = round(values["warmup_steps"] * steps / values["max_steps"])
        values["warmup_steps"] = min(share, steps - 1)
    return {**values, **parameters}


def check_sampling_options(temperature=1.0, top_k=None, top_p=None) -> None:
    """``ValueError`` naming the option for values that make no sense."""
    check_number("temperature", temperature, 0, must="be 0 (greedy) or positive")
    if temperature > FLOAT32_MAX:
        # The sampler divides float32 logits by it: beyond float32 it becomes infinity.
        raise ValueError(f"temperature must be at most {FLOAT32_MAX:.4g}, the largest float32, "
                         f"got {temperature!r}")
    check_int("top_k", top_k, none_ok=True)
    check_number("top_p", top_p, 0, 1, low_open=True, none_ok=True,
                 must="lie in (0, 1] or be None")


def check_prompt(prompt, name: str = "prompt") -> str:
    """``prompt`` if it is text a model can read; else a ``ValueError`` that says what is wrong.

    An empty prompt is fine: generation then starts where an article does, after a line
    break. ``name`` is what the message calls it (``test_start`` in notebook 05).
    """
    if not isinstance(prompt, str):
        hint = ""
        if isinstance(prompt, (int, float)) and not isinstance(prompt, bool):
            hint = (f"; papermill reads `-p {name} {prompt}` as a number, `-r {name} {prompt}` "
                    "passes it as text")
        elif prompt is None:
            hint = '; for no prompt at all use the empty text ""'
        raise ValueError(f"{name} must be text (a str), got {type(prompt).__name__} "
                         f"{prompt!r}{hint}")
    for position, char in enumerate(prompt):
        if "\udc80" <= char <= "\udcff":  # how Python keeps a byte that is not UTF-8
            raise ValueError(
                f"{name} is not valid UTF-8: byte 0x{ord(char) - 0xDC00:02x} at character "
                f"{position}. The terminal or the file that gave it uses another encoding; "
                "pass the text in UTF-8")
        if "\ud800" <= char <= "\udfff":
            raise ValueError(f"{name} holds half of a UTF-16 pair (U+{ord(char):04X}) at "
                             f"character {position}, which is no character")
    return prompt


FLOAT32_MAX = 3.4028234663852886e38


@dataclass
class SamplingSettings:
    """Notebook 05's parameters: which run to sample from, and how."""

    run_dir: str = "outputs/runs/notebook"  # a run directory written by 04_training
    test_start: str = DEFAULT_PROMPT  # the prompt
    num_chars: int = 200  # characters to generate
    temperature: float = DEFAULT_TEMPERATURE
    top_k: int | None = None
    top_p: float | None = None
    seed: int = 0

    def validate(self) -> SamplingSettings:
        """Raise ``ValueError`` naming the parameter, before any model is loaded."""
        if not isinstance(self.run_dir, (str, os.PathLike)) or not str(self.run_dir):
            raise ValueError(f"run_dir must be a run directory's path, got {self.run_dir!r}")
        check_prompt(self.test_start, "test_start")
        check_int("num_chars", self.num_chars)
        check_sampling_options(self.temperature, self.top_k, self.top_p)
        check_int("seed", self.seed, minimum=0)
        return self


@dataclass
class LessonSwitches:
    """Notebook 04's parameters that are not training settings: parts of the lesson that train
    other models than the run's. ``LESSON_OFF`` turns them all off."""

    show_overfitting: bool = True  # two short runs, with and without dropout (~1 min)
    show_original: bool = True  # run the original's port, as published and fixed (~2 min)

    def validate(self) -> LessonSwitches:
        for f in dataclasses.fields(self):
            if not isinstance(getattr(self, f.name), bool):
                raise ValueError(f"{f.name} must be True or False, got "
                                 f"{getattr(self, f.name)!r}")
        return self


LESSON_OFF = {name: False for name in ("show_overfitting", "show_original")}


def field_types(*kinds) -> dict[str, object]:
    """Each field of the dataclasses ``kinds`` and its type (``int``, ``int | None``, ...)."""
    types_ = {}
    for kind in kinds:
        types_.update(typing.get_type_hints(kind))
    return types_


# --- The command line: --preset NAME and -p NAME VALUE ------------------------------------

# Parameters that name a file. Relative paths given on the command line are taken from the
# current folder; TrainConfig and the notebooks take them from the repository root.
PATH_PARAMETERS = ("text_file",)
_BOOLS = {"true": True, "false": False}


def convert(name: str, text: str, kind) -> object:
    """``text`` as a value of type ``kind`` (a field's type); a ``ValueError`` naming ``name``
    when it does not convert. ``None`` (any case) is accepted where ``kind`` allows it."""
    options = typing.get_args(kind) if isinstance(kind, types.UnionType) else (kind,)
    if type(None) in options and text.strip().lower() == "none":
        return None
    kind = next(k for k in options if k is not type(None))
    if kind is str:
        return text
    if kind is bool:
        if text.strip().lower() in _BOOLS:
            return _BOOLS[text.strip().lower()]
        what = "true or false"
    else:
        try:
            return kind(text)
        except ValueError:
            what = {int: "a whole number", float: "a number"}[kind]
    if type(None) in options:
        what += " or None"
    raise ValueError(f"{name} must be {what}, got {text!r}")


def convert_parameters(pairs, kinds: dict[str, object], here: Path | None = None) -> dict:
    """``(NAME, TEXT)`` pairs as a dict of typed values (``kinds``: name to type); an unknown
    name is refused listing the known ones. File paths are taken from ``here`` (default: the
    current folder)."""
    pairs = list(pairs)
    unknown = sorted({name for name, _ in pairs} - set(kinds))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; the parameters are "
                         f"{', '.join(kinds)}")
    values = {name: convert(name, text, kinds[name]) for name, text in pairs}
    return paths_from_here(values, here)


def add_parameter_options(parser: argparse.ArgumentParser, preset: str | None = None,
                          what: str = "a TrainConfig field") -> None:
    """``--preset NAME`` (default ``preset``) and repeatable ``-p NAME VALUE`` on ``parser``."""
    parser.add_argument("--preset", default=preset, choices=list(PRESETS),
                        help=f"named values under the -p ones (default: {preset})")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"), help=f"{what} and its value (repeat)")


def paths_from_here(parameters: dict, here: Path | None = None) -> dict:
    """``parameters`` with each relative file path (say ``text_file``) made to name the same
    file from the repository root: repository-relative inside it, absolute outside."""
    here = Path.cwd() if here is None else Path(here)
    return {name: _from_here(value, here) if name in PATH_PARAMETERS else value
            for name, value in parameters.items()}


def _from_here(value, here: Path):
    if isinstance(value, list):
        return [_from_here(v, here) for v in value]
    if not isinstance(value, str) or not value:
        return value
    path = Path(value).expanduser()
    path = Path(os.path.abspath(path if path.is_absolute() else here / path))
    inside = path == REPO_ROOT or REPO_ROOT in path.parents
    return relative(path) if inside else str(path)
