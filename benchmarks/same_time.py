"""The same seconds of training, four ways: ``make run``'s model against the models a reader
of TensorFlow's tutorial, of the Keras example, or of nanoGPT would write. One run, one machine:

    python benchmarks/same_time.py [--seconds 180] [--contenders ours tutorial ...] [--no-write]

Every contender trains on the same data (WikiText-2's test split, as ``make run``), in batches
of the same shape (``make run``'s: the main preset's, from ``helpers.batches.batch_dataset``),
for the same number of seconds, and is scored on the same text: the first 100,000 characters
of the validation split, in sections of 100 that each start from a zero state (the yardstick
of every run in this repository, ``helpers.evaluation.make_evaluator``; a Transformer's
context is the section, so it is scored the same way).

- ``ours``: ``train()`` with the main preset (``helpers.config.PRESETS["main"]``): its steps
  are cut to what fits in ``--seconds`` on this machine (timed on 20 steps first), so that its
  learning-rate schedule still ends where it is planned to (its warm-up cut in proportion).
- ``tutorial``: TensorFlow's text-generation tutorial as published: an embedding of 256, one
  ``keras.layers.GRU`` of 1,024 units, a dense layer to the logits, ``compile`` with Adam at
  Keras's default rate (0.001) and no clipping, ``model.fit`` stopped after ``--seconds``.
- ``keras-lstm``: ``keras.layers.LSTM`` of our width in place of our cell, everything else
  ours (``train()`` with the main preset and ``cell="keras"``; Keras' LSTM has no dropped
  recurrent weights, so ``recurrent_dropout=0``): what a reader of the Keras example writes.
- ``transformer``: a small causal Transformer of about our parameter count, written with Keras
  layers (``CharTransformer``), with nanoGPT's ``shakespeare_char`` hyperparameters: pre-norm
  blocks, dropout 0.2, AdamW at 0.001 with weight decay 0.1 on the matrices and embeddings
  (biases and norms left alone) and beta_2 0.99, warmed up over nanoGPT's share of the steps
  (100 of its 5,000) and cosine-decayed to a tenth over the steps that fit, the gradient norm
  clipped at 1.0; trained by our ``helpers.step.train_step``. Keras' default initialisation,
  no weight tying.

Training seconds count from the first step (graph building included) to the end of the
last, for every contender alike: loading the data and the final validation are outside them.
The figures go into ``benchmarks/RESULTS.md`` between this script's markers; the rest of the
file is kept.
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
from helpers.batches import batch_dataset
from helpers.checkpoints import load_run
from helpers.config import TrainConfig
from helpers.evaluation import make_evaluator, validation_windows
from helpers.paths import relative
from helpers.step import train_step
from helpers.training import build_training, make_train_step, seed_everything, train

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BEGIN, END = results_md.markers("same_time.py")
CONTENDERS = ("ours", "tutorial", "keras-lstm", "transformer")
NAMES = {"ours": "ours (`make run`'s settings)",
         "tutorial": "TensorFlow's tutorial as published (GRU of 1,024)",
         "keras-lstm": "`keras.layers.LSTM` of our width, our training",
         "transformer": "a small causal Transformer (nanoGPT's hyperparameters)"}
TUTORIAL = {"embedding_dim": 256, "units": 1024, "learning_rate": 1e-3}
TRANSFORMER = {"width": 256, "blocks": 4, "heads": 4, "dropout": 0.2, "learning_rate": 1e-3,
               "weight_decay": 0.1, "warmup_share": 100 / 5000, "clip_norm": 1.0}
TIMED_STEPS = 20


def main_config(output_dir: str, steps: int | None = None, **changes) -> TrainConfig:
    """``make run``'s settings (with ``changes``), writing into ``output_dir``, with no samples
    during training; with ``steps``, planned for that many (the warm-up keeps its share, as
    ``with_preset`` does for any other ``max_steps``)."""
    values = {"output_dir": output_dir, "sample_chars": 0, **changes}
    if steps is not None:
        steps = max(1, steps)
        values.update(max_steps=steps, log_every=steps, save_every=steps)
    return TrainConfig.from_parameters(values, preset="main").validate()


def batch_shape() -> tuple[int, int]:
    """``make run``'s batches, the shape every contender trains on: (rows, characters)."""
    preset = TrainConfig.from_parameters(preset="main")
    return preset.batch_size, preset.len_per_section


def steps_per_second(step_once, batches, steps: int = TIMED_STEPS) -> float:
    """The rate of ``step_once(batch)``, timed after a few warm-up steps (the first builds it)."""
    for _ in range(3):
        float(step_once(next(batches)))
    started = time.perf_counter()
    for _ in range(steps):
        float(step_once(next(batches)))
    return steps / (time.perf_counter() - started)


def training_seconds(last_row: dict, chars_per_step: int) -> float:
    """The seconds of the run's one logged interval, from its first step to the end of its
    last, without the validation that follows (the row's ``elapsed`` includes it)."""
    return last_row["step"] * chars_per_step / last_row["chars_per_sec"]


def run_ours(seconds: float, data, scratch: Path, **changes) -> dict:
    """``train()`` at the main preset (with ``changes``), its steps cut to ``seconds``."""
    output_dir = str(scratch / "-".join(["ours", *changes]))
    planned = main_config(output_dir, **changes)
    strategy = tf.distribute.get_strategy()
    model, optimizer, step = build_training(planned, len(data.vocabulary), strategy)
    step_once = make_train_step(model, optimizer, step, strategy, planned.clip_norm, None)
    rate = steps_per_second(step_once, iter(batch_dataset(
        data.train_ids, planned.batch_size, planned.len_per_section)))
    config = main_config(output_dir, int(rate * seconds), **changes)
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


def run_tutorial(seconds: float, data) -> dict:
    """The tutorial's model and recipe as published: ``compile(optimizer="adam")``, ``fit``."""
    defaults, (rows, length) = TrainConfig(), batch_shape()
    seed_everything(defaults.seed)
    vocab_size = len(data.vocabulary)
    model = keras.Sequential([
        keras.Input(shape=(None,), dtype="int32"),
        keras.layers.Embedding(vocab_size, TUTORIAL["embedding_dim"]),
        keras.layers.GRU(TUTORIAL["units"], return_sequences=True),
        keras.layers.Dense(vocab_size),
    ])
    model.compile(optimizer=keras.optimizers.Adam(TUTORIAL["learning_rate"]),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    batches = batch_dataset(data.train_ids, rows, length, seed=defaults.seed)
    stop = _StopAfter(seconds)
    model.fit(batches, epochs=1, steps_per_epoch=10**9, callbacks=[stop], verbose=0,
              shuffle=False)  # the batches come shuffled, as for ours
    return {"steps": stop.steps, "seconds": stop.elapsed,
            "chars": stop.steps * rows * length,
            "valid_bpc": _validate(model, data), "parameters": model.count_params(),
            "settings": TUTORIAL}


class CharTransformer(keras.Model):
    """A character GPT: token and position embeddings, pre-norm blocks of causal self-attention
    and a 4x MLP, each added to its input, a final norm and the logits. Called as our models
    are (``states``/``return_state`` accepted, no state kept), so that ``train_step`` and the
    evaluators take it as they take ours."""

    def __init__(self, vocab_size: int, context: int, width: int, blocks: int, heads: int,
                 dropout: float, **kwargs):
        super().__init__(**kwargs)
        layers = keras.layers
        self.tokens = layers.Embedding(vocab_size, width)
        self.positions = layers.Embedding(context, width)
        self.drop = layers.Dropout(dropout)
        self.blocks = [(layers.LayerNormalization(epsilon=1e-5),
                        layers.MultiHeadAttention(heads, width // heads, dropout=dropout),
                        layers.LayerNormalization(epsilon=1e-5),
                        layers.Dense(4 * width, activation="gelu"), layers.Dense(width),
                        layers.Dropout(dropout)) for _ in range(blocks)]
        self.norm = layers.LayerNormalization(epsilon=1e-5)
        self.logits = layers.Dense(vocab_size)

    def call(self, inputs, states=None, return_state=False, training=False):
        x = self.tokens(inputs) + self.positions(tf.range(tf.shape(inputs)[1]))
        x = self.drop(x, training=training)
        for norm1, attention, norm2, up, down, drop in self.blocks:
            h = norm1(x)
            x = x + drop(attention(h, h, use_causal_mask=True, training=training),
                         training=training)
            x = x + drop(down(up(norm2(x))), training=training)
        logits = self.logits(self.norm(x))
        return (logits, None) if return_state else logits


def transformer_optimizer(steps: int):
    """nanoGPT's AdamW: 0.001 after a warm-up of its share of ``steps``, cosine-decayed to a
    tenth over the rest."""
    settings = TRANSFORMER
    warmup = round(settings["warmup_share"] * steps)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, max(1, steps - warmup), alpha=0.1, warmup_target=settings["learning_rate"],
        warmup_steps=warmup)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=settings["weight_decay"],
                                       beta_2=0.99)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])  # as nanoGPT
    return optimizer


def build_transformer(vocab_size: int, steps: int, seed: int):
    seed_everything(seed)
    settings, (_, context) = TRANSFORMER, batch_shape()
    model = CharTransformer(vocab_size, context, settings["width"], settings["blocks"],
                            settings["heads"], settings["dropout"])
    model(tf.zeros([1, context], tf.int32))  # creates the weights
    optimizer = transformer_optimizer(steps)

    @tf.function
    def step_once(batch):
        inputs, targets = batch
        return train_step(model, optimizer, inputs, targets, settings["clip_norm"])[0]

    return model, step_once


def run_transformer(seconds: float, data) -> dict:
    defaults, (rows, length) = TrainConfig(), batch_shape()
    vocab_size = len(data.vocabulary)

    def batches():
        return iter(batch_dataset(data.train_ids, rows, length, seed=defaults.seed))

    _, timing_step = build_transformer(vocab_size, 1000, defaults.seed)
    steps = max(1, int(steps_per_second(timing_step, batches()) * seconds))
    model, step_once = build_transformer(vocab_size, steps, defaults.seed)
    stream = batches()
    started = time.perf_counter()
    for _ in range(steps):
        float(step_once(next(stream)))
    elapsed = time.perf_counter() - started
    return {"steps": steps, "seconds": elapsed,
            "chars": steps * rows * length,
            "valid_bpc": _validate(model, data), "parameters": model.count_params(),
            "settings": TRANSFORMER}


def _validate(model, data) -> float:
    return make_evaluator(model, *validation_windows(data.valid_ids.astype("int32"),
                                                     batch_shape()[1]))()


def run(name: str, seconds: float, data, scratch: Path) -> dict:
    if name == "ours":
        return run_ours(seconds, data, scratch)
    if name == "keras-lstm":
        return run_ours(seconds, data, scratch, cell="keras", recurrent_dropout=0.0)
    if name == "tutorial":
        return run_tutorial(seconds, data)
    return run_transformer(seconds, data)


def section(results: dict, seconds: float) -> str:
    rows, length = batch_shape()
    lines = [BEGIN, "", "## The same seconds of training: ours against three other recipes", "",
             f"Written by `python benchmarks/same_time.py --seconds {seconds:g}` on "
             f"{platform.machine()} with {_cores()} cores, {platform.system()}; TensorFlow "
             f"{tf.__version__}, Keras {keras.__version__}. Same data (WikiText-2's test "
             f"split), batches of {rows} x {length} characters, the same seconds each; "
             "validation BPC on the first 100,000 characters of the validation split, sections "
             f"of {length} from a zero state.", "",
             "| contender | parameters | steps | characters seen | training s | valid BPC |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, r in results.items():
        lines.append(f"| {NAMES[name]} | {r['parameters']:,} | {r['steps']:,} | "
                     f"{r['chars'] / 1e6:.1f} M | {r['seconds']:.0f} | {r['valid_bpc']:.3f} |")
    if "ours" in results:
        ours = results["ours"]
        lines.append("")
        if ours["steps"] < ours["planned_steps"]:
            lines.append(f"Ours ran {ours['steps']:,} of the main preset's "
                         f"{ours['planned_steps']:,} steps, its schedule fitted to them.")
        for name, other in results.items():
            if name == "ours":
                continue
            lower = other["valid_bpc"] - ours["valid_bpc"]
            # Bits compare by their difference: d bits lower is a perplexity 2**d lower.
            verdict = (f"{lower:.3f} BPC lower for ours, a perplexity {2 ** lower:.2f}x lower"
                       if lower > 0 else f"{-lower:.3f} BPC higher for ours")
            lines.append(f"- against {NAMES[name]}: {verdict}; "
                         f"{characters_per_second(ours) / characters_per_second(other):.2f}x "
                         "the characters a second.")
    lines += ["", f"Raw: `{json.dumps(results)}`", "", END, ""]
    return "\n".join(lines)


def characters_per_second(result: dict) -> float:
    return result["chars"] / result["seconds"]


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def write_section(text: str) -> None:
    """Put ``text`` (BEGIN..END) into RESULTS.md in place of the old section, or at its end."""
    results_md.write_section(RESULTS, text, BEGIN, END)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0,
                        help="training seconds for each contender (default 180)")
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
            results[name] = r = run(name, args.seconds, data, Path(scratch))
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
