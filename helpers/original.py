"""The original tutorial in one place: its settings, the numbers it printed, and our own code
that does exactly what its code does, bugs included, so that the notebooks can run it.

Every figure here was read off the original's text (a TensorFlow 1 notebook published as a
blog post); nothing is re-estimated. Where the original's code and its prose disagree, the
code is what is reproduced here, and the docstrings say what a correct version does instead.
The cells of the original are named by their execution labels (``In [15]`` and so on).

What is here:

- ``ORIGINAL``: its settings (``Settings``), and ``DEMO``, the same structure scaled down so
  that one run takes well under a minute on a laptop CPU;
- ``PRINTED_TEXT_LENGTH``, ``PRINTED_LETTERS``, ``PRINTED_LOSSES``: what it printed;
- ``printed_steps`` and ``save_steps``: when its loop prints and when it saves;
- ``section_arithmetic``: the size of its dense arrays for a given text and vocabulary;
  ``batch_indices`` and ``chars_reached``: its batches, in order, and how far they get;
- ``literal_sample`` (its sampler as written) and ``intended_sample`` (what it meant);
- ``OriginalLSTM``, ``scored_targets``, ``position_losses``, ``original_loss`` and
  ``make_train_step``: its graph in TF2, with the loss at every position;
- ``train_original`` and ``generate_original``: a scaled-down run and its text;
- ``checkpoint_lookup``: its checkpoint lookup, run against a real checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers import data
from helpers.backend import keras, tf
from helpers.checks import check_int
from helpers.config import DEFAULT_PROMPT, TrainConfig
from helpers.encoding import Vocabulary, sections
from helpers.step import LN2

#: The prompt the original primed its generation with (``In [32]``).
PROMPT = DEFAULT_PROMPT  # ours is the original's

#: ``len(text)`` as the original printed it for its ``wiki.test.raw`` (``In [7]``). The
#: published ``wiki.test.raw`` has 1,288,556 characters; this figure cannot be reproduced.
PRINTED_TEXT_LENGTH = 580_441

#: ``len(letters)`` as the original printed it (``In [11]``): its vocabulary size.
PRINTED_LETTERS = 174

#: The training losses it printed (``In [21]``), by step: softmax cross-entropy in nats,
#: averaged over every position of one batch, before that step's update.
PRINTED_LOSSES = {0: 5.14, 10: 6.58, 20: 5.76, 30: 3.71, 40: 3.59,
                  50: 3.68, 60: 3.32, 70: 3.53, 80: 3.43, 90: 3.21}

#: Bytes per element of its arrays: ``X`` was made with ``dtype=int`` (NumPy's default
#: integer: 8 bytes on 64-bit Linux and macOS, and on Windows from NumPy 2), ``y`` with
#: ``np.zeros``' default, float64.
X_ITEMSIZE = 8
Y_ITEMSIZE = 8


@dataclass(frozen=True)
class Settings:
    """The original's training settings (``In [15]``, ``In [21]``, ``In [31]``, ``In [32]``).

    ``log_every`` is defined by the original and never used: its loop prints when
    ``step % 10 == 0`` (``print_every`` here), and saves when, inside that same check,
    ``step % save_every == 0``.
    """

    batch_size: int = 512
    hidden_nodes: int = 1024
    max_steps: int = 100
    len_per_section: int = 174
    skip: int = 2
    learning_rate: float = 10.0  # plain gradient descent, no clipping
    init_mean: float = -0.1  # every weight matrix: a truncated normal of this mean...
    init_stddev: float = 0.1  # ...and this standard deviation; biases start at zero
    print_every: int = 10
    log_every: int = 100  # defined, never used
    save_every: int = 6000
    generate_chars: int = 200

    def replace(self, **changes) -> Settings:
        return dataclasses.replace(self, **changes)


ORIGINAL = Settings()

#: The original scaled down for the notebooks: the same structure, sections of 174 and its
#: 100 steps, with a quarter of its units and an eighth of its batch.
DEMO = ORIGINAL.replace(batch_size=64, hidden_nodes=256)

CANDIDATES = ("sigmoid", "tanh")
OPTIMIZERS = ("sgd", "adam")


def printed_steps(max_steps: int = ORIGINAL.max_steps,
                  print_every: int = ORIGINAL.print_every) -> list[int]:
    """The steps at which the original's loop prints the loss: 0, 10, ..., 90 for 100 steps.

    Its loop runs ``range(max_steps)``, so step 100 never comes: the last loss it printed is
    step 90's.
    """
    return [s for s in range(max_steps) if s % print_every == 0]


def save_steps(max_steps: int = ORIGINAL.max_steps, print_every: int = ORIGINAL.print_every,
               save_every: int = ORIGINAL.save_every) -> list[int]:
    """The steps at which the original's loop saves a checkpoint.

    Its save sits inside the print check, so a step saves only when it is a multiple of both;
    with ``save_every = 6000``, a multiple of 10, that is every multiple of 6,000. Of its 100
    steps only step 0 is one, because 6,000 is more than 100 (the nesting changes nothing here):
    the model saved is the one after a single update, and no later step is ever saved.
    """
    return [s for s in printed_steps(max_steps, print_every) if s % save_every == 0]


def nats_to_bits(nats: float) -> float:
    """Cross-entropy in nats (natural log, what the original printed) to bits."""
    return nats / LN2


@dataclass(frozen=True)
class SectionCost:
    """The original's arrays for one text: shapes, bytes, and whether its graph could use them.

    ``X`` is shaped ``(sections, vocab, vocab)``: its time axis is sized by the vocabulary,
    not by ``len_per_section``. That only works when the two are equal, as the original's
    174 and 174 happened to be.
    """

    n_chars: int
    vocab_size: int
    len_per_section: int
    skip: int
    sections: int
    x_shape: tuple[int, int, int]
    y_shape: tuple[int, int]
    x_bytes: int
    y_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.x_bytes + self.y_bytes

    @property
    def fits_graph(self) -> bool:
        return self.vocab_size == self.len_per_section

    @property
    def problem(self) -> str | None:
        """What goes wrong with this text besides memory, or None."""
        if self.vocab_size < self.len_per_section:
            return (f"filling X fails: section position {self.vocab_size} has no row in a "
                    f"time axis of {self.vocab_size} (IndexError)")
        if self.vocab_size > self.len_per_section:
            return (f"X builds, but a batch of it, (batch, {self.vocab_size}, "
                    f"{self.vocab_size}), does not fit the graph's input of shape "
                    f"(batch, {self.len_per_section}, {self.vocab_size})")
        return None


def section_arithmetic(n_chars: int, vocab_size: int, settings: Settings = ORIGINAL,
                       x_itemsize: int = X_ITEMSIZE, y_itemsize: int = Y_ITEMSIZE) -> SectionCost:
    """The number of sections and the bytes of the original's ``X`` and ``y`` (``In [31]``).

    A section starts every ``skip`` characters while at least one more character follows
    it; ``X`` holds ``(sections, vocab_size, vocab_size)`` integers and ``y``
    ``(sections, vocab_size)`` float64 values.
    """
    check_int("n_chars", n_chars)
    check_int("vocab_size", vocab_size)
    n_sections = len(range(0, n_chars - settings.len_per_section, settings.skip))
    x_shape = (n_sections, vocab_size, vocab_size)
    y_shape = (n_sections, vocab_size)
    return SectionCost(n_chars, vocab_size, settings.len_per_section, settings.skip, n_sections,
                       x_shape, y_shape, math.prod(x_shape) * x_itemsize,
                       math.prod(y_shape) * y_itemsize)


def chars_reached(n_sections: int, settings: Settings = ORIGINAL,
                  steps: int | None = None) -> int:
    """How far into the text the original's batches reach in ``steps`` steps.

    Batches are taken in order, ``batch_size`` consecutive sections each, so until the
    batches wrap around only the start of the text is ever seen.
    """
    steps = settings.max_steps if steps is None else steps
    used = steps * settings.batch_size
    if used >= n_sections:
        return (n_sections - 1) * settings.skip + settings.len_per_section + 1
    return (used - 1) * settings.skip + settings.len_per_section + 1


def batch_indices(n_sections: int, batch_size: int):
    """The section indices of each of the original's batches, one array per step, endless.

    Its offset logic: take the next ``batch_size`` sections in order; when fewer remain,
    take what remains and wrap around to the start for the rest.
    """
    if batch_size > n_sections:
        raise ValueError(f"batch_size={batch_size} is more than the {n_sections} sections")
    offset = 0
    while True:
        offset %= n_sections
        if offset <= n_sections - batch_size:
            yield np.arange(offset, offset + batch_size)
            offset += batch_size
        else:
            wrapped = batch_size - (n_sections - offset)
            yield np.concatenate([np.arange(offset, n_sections), np.arange(wrapped)])
            offset = wrapped


# --- Sampling -----------------------------------------------------------------------------


def _uniform(rng) -> float:
    """A draw from [0, 1): ``rng`` is a NumPy Generator, a ``random.Random``, or the number."""
    if hasattr(rng, "uniform"):
        return float(rng.uniform(0, 1))
    r = float(rng)
    if not 0 <= r <= 1:
        raise ValueError(f"a uniform draw lies in [0, 1], got {r!r}")
    return r


def literal_sample(prediction, rng) -> int:
    """The original's sampler as it is written (``In [28]``): the id it picks.

    It draws ``r`` from [0, 1), starts a running sum at 0, and walks the ids looking for the
    first one where the sum reaches ``r``; the default, if none does, is the last id. But
    nothing is ever added to the sum, so the test compares 0 with ``r`` at every id: for any
    ``r > 0`` the walk falls through and the last id comes back, whatever ``prediction``
    says. Only ``r == 0`` exactly (a chance of about 1 in 2**53) returns id 0.

    The original returned the id as a one-hot vector; this returns the id. (Its text also
    never imports ``random``, so run as published, its first line raises NameError.)
    """
    r = _uniform(rng)
    total = 0.0
    chosen = len(prediction) - 1
    for i in range(len(prediction)):
        if total >= r:
            chosen = i
            break
        # (the running sum would be updated here; the original never does)
    return chosen


def intended_sample(prediction, rng) -> int:
    """What the original meant: add each probability to the running sum, stop where it
    reaches ``r`` (inverse-CDF sampling). Same draw, same walk, one line more."""
    r = _uniform(rng)
    total = 0.0
    for i, p in enumerate(prediction):
        total += float(p)
        if total >= r:
            return i
    return len(prediction) - 1  # rounding: the sum fell just short of r


SAMPLERS = {"literal": literal_sample, "intended": intended_sample}


# --- The model ----------------------------------------------------------------------------

_GATES = ("input", "forget", "output", "candidate")


class OriginalLSTM(keras.Model):
    """The original's graph (``In [15]``) in TF2, computed the way it computed it.

    Per gate, one weight matrix from the input and one from the previous output (eight
    matrices, eight products per step) and a bias; dense one-hot input, so the input
    products are real ``[batch, vocab] x [vocab, hidden]`` multiplications; an output layer
    applied to every step's output. Every matrix starts from a truncated normal of mean
    ``init_mean`` (-0.1) and standard deviation ``init_stddev`` (0.1), biases at zero.

    ``candidate="sigmoid"`` is the original's candidate memory; ``"tanh"`` is the LSTM's,
    the only change. Weights depend only on ``seed``, so two models built with the same seed
    differ only in that choice.
    """

    def __init__(self, vocab_size: int, hidden_nodes: int, candidate: str = "sigmoid",
                 init_mean: float = ORIGINAL.init_mean,
                 init_stddev: float = ORIGINAL.init_stddev, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if candidate not in CANDIDATES:
            raise ValueError(f"candidate must be one of {CANDIDATES}, got {candidate!r}")
        check_int("vocab_size", vocab_size)
        check_int("hidden_nodes", hidden_nodes)
        self.vocab_size, self.hidden_nodes, self.candidate = vocab_size, hidden_nodes, candidate
        counter = iter(range(100))

        def truncated_normal(shape, dtype=None):
            # Values beyond two standard deviations are re-drawn, as TF1's truncated_normal.
            return tf.random.stateless_truncated_normal(
                shape, seed=[seed, next(counter)], mean=init_mean, stddev=init_stddev)

        def matrix(name, shape):
            return self.add_weight(shape=shape, initializer=truncated_normal, name=name)

        def bias(name, size):
            return self.add_weight(shape=(1, size), initializer="zeros", name=name)

        self.from_input = {g: matrix(f"{g}_from_input", (vocab_size, hidden_nodes))
                           for g in _GATES}
        self.from_output = {g: matrix(f"{g}_from_output", (hidden_nodes, hidden_nodes))
                            for g in _GATES}
        self.biases = {g: bias(f"{g}_bias", hidden_nodes) for g in _GATES}
        self.out_weights = matrix("out_weights", (hidden_nodes, vocab_size))
        self.out_bias = self.add_weight(shape=(vocab_size,), initializer="zeros",
                                        name="out_bias")

    def step(self, x, h, c, return_gates: bool = False):
        """One step: ``x [batch, vocab]`` (one-hot), the previous output ``h`` and memory
        ``c`` -> new ``h, c`` (and the gates, by name, with ``return_gates``)."""
        def pre(g):
            return (tf.matmul(x, self.from_input[g]) + tf.matmul(h, self.from_output[g])
                    + self.biases[g])

        i, f, o = tf.sigmoid(pre("input")), tf.sigmoid(pre("forget")), tf.sigmoid(pre("output"))
        squash = tf.sigmoid if self.candidate == "sigmoid" else tf.tanh
        g = squash(pre("candidate"))
        c = f * c + i * g
        h = o * tf.tanh(c)
        if return_gates:
            return h, c, {"input": i, "forget": f, "output": o, "candidate": g}
        return h, c

    def initial_state(self, batch_size):
        zeros = tf.zeros([batch_size, self.hidden_nodes])
        return zeros, zeros

    def output_logits(self, h):
        return tf.matmul(h, self.out_weights) + self.out_bias

    def time_major_logits(self, data):
        """Logits of every step's output, ``[time * batch, vocab]``, step 0's rows first, as
        the original concatenated them. ``data`` is one-hot, ``[batch, time, vocab]``."""
        steps = data.shape[1]
        h, c = self.initial_state(tf.shape(data)[0])

        # A graph loop rather than 174 unrolled copies of the step: the same products in the
        # same order, and a compiled step that runs in a fraction of the memory.
        def one_step(t, h, c, outputs):
            h, c = self.step(data[:, t], h, c)
            return t + 1, h, c, outputs.write(t, h)

        _, _, _, outputs = tf.while_loop(lambda t, *_: t < steps, one_step,
                                         (0, h, c, tf.TensorArray(h.dtype, size=steps)))
        return self.output_logits(tf.reshape(outputs.stack(), [-1, self.hidden_nodes]))

    def call(self, data):
        """Logits at every position, ``[batch, time, vocab]``."""
        logits = self.time_major_logits(data)
        steps = data.shape[1]
        return tf.transpose(tf.reshape(logits, [steps, -1, self.vocab_size]), [1, 0, 2])


def scored_targets(data, labels):
    """The target of every position, as the original pairs them, ``[batch, time, vocab]``.

    Step ``t``'s output is scored against the input character of step ``t + 1``, and the
    last step's against ``labels``, the character after the section. So every position is
    scored: the label only adds the last one.
    """
    return tf.concat([data[:, 1:], labels[:, None, :]], axis=1)


def position_losses(model: OriginalLSTM, data, labels):
    """Softmax cross-entropy in nats at every position, ``[batch, time]``."""
    logits = model.time_major_logits(data)
    targets = tf.reshape(tf.transpose(scored_targets(data, labels), [1, 0, 2]),
                         [-1, model.vocab_size])
    nats = tf.nn.softmax_cross_entropy_with_logits(labels=targets, logits=logits)
    return tf.transpose(tf.reshape(nats, [data.shape[1], -1]))


def original_loss(model: OriginalLSTM, data, labels):
    """The original's loss: the mean over all ``batch * time`` positions, in nats."""
    return tf.reduce_mean(position_losses(model, data, labels))


def make_train_step(model: OriginalLSTM, optimizer: str = "sgd",
                    settings: Settings = ORIGINAL):
    """A compiled training step ``(section ids [batch, time], label ids [batch]) -> nats``.

    The ids become dense one-hot arrays inside the step, as the original fed them.
    ``optimizer="sgd"``: plain gradient descent at ``settings.learning_rate`` (10 in the
    original), no clipping. ``"adam"``: our training's Adam, learning rate and gradient
    clipping (``helpers.config.TrainConfig``'s defaults), the only change.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    variables = model.trainable_variables
    if optimizer == "adam":
        ours = TrainConfig()
        adam = keras.optimizers.Adam(ours.learning_rate)
        adam.build(variables)
    rate = float(settings.learning_rate)

    @tf.function
    def train_step(section_ids, label_ids):
        data = tf.one_hot(section_ids, model.vocab_size)
        labels = tf.one_hot(label_ids, model.vocab_size)
        with tf.GradientTape() as tape:
            loss = original_loss(model, data, labels)
        grads = tape.gradient(loss, variables)
        if optimizer == "sgd":
            for variable, grad in zip(variables, grads, strict=True):
                variable.assign_sub(rate * grad)
        else:
            grads, _ = tf.clip_by_global_norm(grads, ours.clip_norm)
            adam.apply_gradients(zip(grads, variables, strict=True))
        return loss

    return train_step


@dataclass
class OriginalRun:
    """What ``train_original`` returns: the model, its vocabulary and the loss curve."""

    model: OriginalLSTM
    vocabulary: Vocabulary
    settings: Settings
    candidate: str
    optimizer: str
    history: list[dict]  # one row per step: step, nats, bits, elapsed (s since the start)

    def printed(self) -> list[dict]:
        """The rows the original's loop would have printed (every ``print_every`` steps)."""
        return [row for row in self.history if row["step"] % self.settings.print_every == 0]


def train_original(settings: Settings = DEMO, steps: int | None = None,
                   seconds: float | None = None, candidate: str = "sigmoid",
                   optimizer: str = "sgd", text: str | None = None, seed: int = 0,
                   verbose: bool = False) -> OriginalRun:
    """Train ``OriginalLSTM`` the original's way, at ``settings`` (``DEMO`` by default).

    Sections of ``len_per_section`` characters every ``skip`` characters, batches in order
    with the original's wrap-around, the loss at every position, ``steps`` steps (default
    ``settings.max_steps``) or until ``seconds`` have passed, whichever comes first. The
    text defaults to WikiText-2's ``wiki.test.raw``, as the original trained on. The
    vocabulary is ours, sorted, with id 0 for unknown characters (never a target here), so
    the model has one output more than the text has distinct characters.
    Deterministic for a given ``seed`` (the weights; the data order has no randomness).
    """
    if candidate not in CANDIDATES:
        raise ValueError(f"candidate must be one of {CANDIDATES}, got {candidate!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    steps = settings.max_steps if steps is None else steps
    check_int("steps", steps)
    if text is None:
        text = data.load_split("test")
    vocabulary = Vocabulary.from_text(text)
    ids = vocabulary.encode(text)
    windows, next_ids = sections(ids, settings.len_per_section, settings.skip)
    model = OriginalLSTM(len(vocabulary), settings.hidden_nodes, candidate, settings.init_mean,
                         settings.init_stddev, seed)
    model(tf.zeros([1, 1, len(vocabulary)]))  # creates the weights
    train_step = make_train_step(model, optimizer, settings)
    batches = batch_indices(len(windows), settings.batch_size)
    history = []
    started = time.perf_counter()
    for step in range(steps):
        chosen = next(batches)
        nats = float(train_step(tf.constant(windows[chosen], tf.int32),
                                tf.constant(next_ids[chosen], tf.int32)))
        elapsed = time.perf_counter() - started
        history.append({"step": step, "nats": nats, "bits": nats_to_bits(nats),
                        "elapsed": elapsed})
        if verbose and step % settings.print_every == 0:
            print(f"step {step:>4}: {nats:.2f} nats = {nats_to_bits(nats):.2f} bits "
                  f"({elapsed:.1f} s)")
        if seconds is not None and elapsed >= seconds:
            break
    return OriginalRun(model, vocabulary, settings, candidate, optimizer, history)


def generate_original(model: OriginalLSTM, vocabulary: Vocabulary, sampler=literal_sample,
                      prompt: str = PROMPT, num_chars: int = ORIGINAL.generate_chars,
                      seed: int = 0) -> str:
    """The characters the original's generation would produce after ``prompt``.

    One character at a time, the state carried from each to the next starting from zeros:
    every prompt character goes in, then the softmax of the last output is handed to
    ``sampler`` (``literal_sample``, ``intended_sample``, or any ``(probabilities, rng) ->
    id``), the chosen character goes in, and so on ``num_chars`` times. The original's test
    graph for this was never defined; this assumes the obvious one, the trained graph at
    batch 1 with its state kept between calls. ``sampler`` draws from
    ``np.random.default_rng(seed)``.
    """
    check_int("num_chars", num_chars, minimum=0)
    if not prompt:
        raise ValueError("the original's generation needs a prompt of at least one character")
    sampler = SAMPLERS.get(sampler, sampler)
    rng = np.random.default_rng(seed)
    size = model.vocab_size

    @tf.function(input_signature=[tf.TensorSpec([], tf.int32),
                                  tf.TensorSpec([1, model.hidden_nodes], tf.float32),
                                  tf.TensorSpec([1, model.hidden_nodes], tf.float32)])
    def feed(char_id, h, c):
        h, c = model.step(tf.one_hot([char_id], size), h, c)
        return tf.nn.softmax(model.output_logits(h))[0], h, c

    h, c = model.initial_state(1)
    for char_id in vocabulary.encode(prompt):
        prediction, h, c = feed(tf.constant(char_id, tf.int32), h, c)
    chosen = []
    for _ in range(num_chars):
        char_id = int(sampler(prediction.numpy().astype(np.float64), rng))
        chosen.append(char_id)
        prediction, h, c = feed(tf.constant(char_id, tf.int32), h, c)
    return vocabulary.decode(np.array(chosen, np.int32))


def checkpoint_lookup(directory, name: str = "trained_variables.ckpt") -> dict:
    """Save a checkpoint the original's way and look it up the original's way, for real.

    The original saved under the prefix ``name`` with the step appended (files
    ``name-0.index``, ``name-0.data-...`` and a ``checkpoint`` state file in the folder),
    then asked ``tf.train.latest_checkpoint`` for the latest checkpoint *in* ``name``:
    but that function expects the folder. Returns what each call gives: ``"file name"``
    is None (and restoring from None raises ``ValueError`` in TF1's ``Saver.restore``),
    ``"directory"`` the saved checkpoint.
    """
    directory = Path(directory)
    checkpoint = tf.train.Checkpoint(step=tf.Variable(0))
    manager = tf.train.CheckpointManager(checkpoint, str(directory), max_to_keep=1,
                                         checkpoint_name=name)
    manager.save(checkpoint_number=0)
    return {"file name": tf.train.latest_checkpoint(str(directory / name)),
            "directory": tf.train.latest_checkpoint(str(directory))}
