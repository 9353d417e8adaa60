"""The same seconds of training, two ways: ``make run``'s model against the one a reader of
TensorFlow's own text-generation tutorial would write. One run, one machine:

    python benchmarks/same_time.py [--seconds 300] [--contenders ours tutorial ...] [--no-write]

Every contender trains on the same data (WikiText-2's test split, as ``make run``), in batches
of the same shape (64 sequences of 100 characters, from ``helpers.batches.batch_dataset``),
for the same number of seconds, and is scored on the same text: the first 100,000 characters
of the validation split, in sections of 100 that each start from a zero state (the yardstick
of every run in this repository, ``helpers.evaluation.make_evaluator``).

- ``ours``: ``train()`` with the main preset (``helpers.config.PRESETS["main"]``): its steps
  are cut to what fits in ``--seconds`` on this machine (timed on 20 steps first), so that its
  learning-rate schedule still ends where it is planned to (its warm-up cut in proportion).
- ``tutorial``: the tutorial's model with an LSTM in place of its GRU: an embedding of 256, one
  ``keras.layers.LSTM`` of 1,024 units, a dense layer to the logits; Adam at Keras's default
  rate (0.001) with the gradient norm clipped at 1.0; ``model.fit`` stopped after
  ``--seconds``.
- ``tutorial-narrow``: the same, with as many LSTM units as ours (is it the recipe or the
  size?).

Training seconds count from the first step (graph building included) to the end of the
last, for every contender alike: loading the data and the final validation are outside them
(ours' seconds are the training window ``train`` timed for its one logged interval, which it
closes before validating; the tutorial's stop with its last batch). The figures go into
``benchmarks/RESULTS.md`` between this script's markers; the rest of the file is kept.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import results_md  # benchmarks/, beside this script

from helpers import corpus
from helpers.backend import keras, tf
from helpers.batches import batch_dataset, stream_dataset
from helpers.checkpoints import load_run
from helpers.config import TrainConfig
from helpers.evaluation import make_evaluator, validation_windows
from helpers.paths import relative
from helpers.training import CarriedState, build_training, make_train_step, seed_everything, train

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BEGIN, END = results_md.markers("same_time.py")
CONTENDERS = ("ours", "tutorial", "tutorial-narrow")
TUTORIAL = {"embedding_dim": 256, "units": 1024, "learning_rate": 1e-3, "clipnorm": 1.0}


def main_config(output_dir: str, steps: int | None = None) -> TrainConfig:
    """``make run``'s settings, writing into ``output_dir``, with no samples during training;
    with ``steps``, planned for that many (the warm-up keeps its share, as ``with_preset``
    does for any other ``max_steps``)."""
    values = {"output_dir": output_dir, "sample_chars": 0}
    if steps is not None:
        steps = max(1, steps)
        values.update(max_steps=steps, log_every=steps, save_every=steps)
    return TrainConfig.from_parameters(values, preset="main").validate()


def steps_per_second(config: TrainConfig, train_ids, vocab_size: int, steps: int = 20) -> float:
    """Our training step's rate, timed after a few warm-up steps, with ``train``'s own step."""
    strategy = tf.distribute.get_strategy()
    model, optimizer, step = build_training(config, vocab_size, strategy)
    carried = CarriedState(config.batch_size, config.hidden_nodes, config.num_layers) \
        if config.carry_state else None
    train_step = make_train_step(model, optimizer, step, strategy, config.clip_norm, carried)
    dataset = stream_dataset(train_ids, config.batch_size, config.len_per_section) \
        if carried else batch_dataset(train_ids, config.batch_size, config.len_per_section)
    batches = iter(dataset)
    for _ in range(3):
        float(train_step(next(batches)))
    started = time.perf_counter()
    for _ in range(steps):
        float(train_step(next(batches)))
    return steps / (time.perf_counter() - started)


def training_seconds(last_row: dict, chars_per_step: int) -> float:
    """The seconds of the run's one logged interval, from its first step to the end of its
    last, without the validation that follows (the row's ``elapsed`` includes it)."""
    return last_row["step"] * chars_per_step / last_row["chars_per_sec"]


def run_ours(seconds: float, data, scratch: Path) -> dict:
    planned = main_config(str(scratch / "ours"))
    rate = steps_per_second(planned, data.train_ids, len(data.vocabulary))
    config = main_config(str(scratch / "ours"), int(rate * seconds))
    history = train(config, progress=False, verbose=False)
    last = history[-1]
    chars = last["step"] * config.batch_size * config.len_per_section
    return {"steps": last["step"], "planned_steps": planned.max_steps,
            "seconds": training_seconds(last, config.batch_size * config.len_per_section),
            "chars": chars,
            "valid_bpc": last["valid_bpc"], "valid_bpc_carried": last.get("valid_bpc_carried"),
            "parameters": load_run(config.run_dir).model.count_params(),
            "settings": {k: v for k, v in dataclasses.asdict(config).items()
                         if k not in ("output_dir", "data_dir")}}


class _StopAfter(keras.callbacks.Callback):
    """End ``fit`` once ``seconds`` have passed since its first batch began."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds, self.started, self.steps, self.elapsed = seconds, None, 0, 0.0

    def on_train_batch_begin(self, batch, logs=None):
        if self.started is None:
            self.started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        self.elapsed = time.perf_counter() - self.started
        if self.elapsed >= self.seconds:
            self.model.stop_training = True


def run_tutorial(seconds: float, data, units: int) -> dict:
    """The tutorial's recipe: ``Sequential``, ``compile``, ``fit``."""
    defaults = TrainConfig()
    seed_everything(defaults.seed)
    vocab_size = len(data.vocabulary)
    model = keras.Sequential([
        keras.Input(shape=(None,), dtype="int32"),
        keras.layers.Embedding(vocab_size, TUTORIAL["embedding_dim"]),
        keras.layers.LSTM(units, return_sequences=True),
        keras.layers.Dense(vocab_size),
    ])
    model.compile(optimizer=keras.optimizers.Adam(TUTORIAL["learning_rate"],
                                                  clipnorm=TUTORIAL["clipnorm"]),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    batches = batch_dataset(data.train_ids, defaults.batch_size, defaults.len_per_section,
                            seed=defaults.seed)
    stop = _StopAfter(seconds)
    model.fit(batches, epochs=1, steps_per_epoch=10**9, callbacks=[stop], verbose=0,
              shuffle=False)  # the batches come shuffled, as for ours
    evaluate = make_evaluator(model, *validation_windows(data.valid_ids.astype("int32"),
                                                         defaults.len_per_section))
    return {"steps": stop.steps, "seconds": stop.elapsed,
            "chars": stop.steps * defaults.batch_size * defaults.len_per_section,
            "valid_bpc": evaluate(), "parameters": model.count_params(),
            "settings": {**TUTORIAL, "units": units}}


def section(results: dict, seconds: float) -> str:
    names = {"ours": "ours (`make run`'s settings)",
             "tutorial": "TensorFlow tutorial's recipe, LSTM of 1,024",
             "tutorial-narrow": "TensorFlow tutorial's recipe, LSTM as wide as ours"}
    lines = [BEGIN, "", "## The same seconds of training: ours against the TensorFlow tutorial's "
             "recipe", "",
             f"Written by `python benchmarks/same_time.py --seconds {seconds:g}` on "
             f"{platform.machine()} with {_cores()} cores, {platform.system()}; TensorFlow "
             f"{tf.__version__}, Keras {keras.__version__}. Same data (WikiText-2's test split), "
             "batches of 64 x 100 characters, the same seconds each; validation BPC on the "
             "first 100,000 characters of the validation split, sections of 100 from a zero "
             "state.", "",
             "| contender | parameters | steps | characters seen | training s | valid BPC |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, r in results.items():
        lines.append(f"| {names[name]} | {r['parameters']:,} | {r['steps']:,} | "
                     f"{r['chars'] / 1e6:.1f} M | {r['seconds']:.0f} | {r['valid_bpc']:.3f} |")
    if "ours" in results:
        ours = results["ours"]
        lines.append("")
        if ours["steps"] < ours["planned_steps"]:
            lines.append(f"Ours ran {ours['steps']:,} of the main preset's "
                         f"{ours['planned_steps']:,} steps, its schedule fitted to them.")
        for name in ("tutorial", "tutorial-narrow"):
            if name in results:
                other = results[name]
                lower = other["valid_bpc"] - ours["valid_bpc"]
                # Bits compare by their difference: d bits lower is a perplexity 2**d lower.
                lines.append(f"- against {names[name]}: {lower:.3f} BPC lower for ours, a "
                             f"perplexity {2 ** lower:.2f}x lower; "
                             f"{ours['chars'] / other['chars']:.2f}x the characters seen in the "
                             "same time.")
    lines += ["", f"Raw: `{json.dumps(results)}`", "", END, ""]
    return "\n".join(lines)


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def write_section(text: str) -> None:
    """Put ``text`` (BEGIN..END) into RESULTS.md in place of the old section, or at its end."""
    results_md.write_section(RESULTS, text, BEGIN, END)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0,
                        help="training seconds for each contender (default 300)")
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=list(CONTENDERS))
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if not args.seconds > 0:
        parser.error("--seconds must be positive")
    data = corpus.load_training_data(TrainConfig())
    results = {}
    with tempfile.TemporaryDirectory(prefix="same-time-") as scratch:
        for name in args.contenders:
            print(f"{name}: training for {args.seconds:g} s", flush=True)
            if name == "ours":
                results[name] = run_ours(args.seconds, data, Path(scratch))
            else:
                units = TUTORIAL["units"] if name == "tutorial" else \
                    main_config(scratch).hidden_nodes
                results[name] = run_tutorial(args.seconds, data, units)
            r = results[name]
            print(f"  {r['steps']:,} steps in {r['seconds']:.0f} s: valid {r['valid_bpc']:.3f} "
                  "bpc", flush=True)
    text = section(results, args.seconds)
    print(text)
    if not args.no_write:
        write_section(text)
        print(f"wrote {relative(RESULTS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
