"""Validation: the model's bits per character on a fixed text, two ways.

``make_evaluator`` starts every section from a zero state, the yardstick every run is compared
on; ``make_carried_evaluator`` reads the text as long stretches with the state carried
through, as language models are usually scored and as the model generates.
"""

from __future__ import annotations

import numpy as np

from helpers.backend import keras, tf
from helpers.step import LN2


def validation_windows(ids: np.ndarray, len_per_section: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping windows of a fixed text: the same validation set on every call."""
    n = _sections_in(ids, len_per_section)
    used = ids[: n * len_per_section + 1]
    return (used[:-1].reshape(n, len_per_section), used[1:].reshape(n, len_per_section))


def _sections_in(ids: np.ndarray, len_per_section: int) -> int:
    n = (len(ids) - 1) // len_per_section
    if n < 1:
        raise ValueError(f"validation text of {len(ids)} characters is shorter than one "
                         f"section of len_per_section={len_per_section}")
    return n


def summed_nats(targets, logits):
    return tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(targets, logits,
                                                                      from_logits=True))


def make_evaluator(model, inputs: np.ndarray, targets: np.ndarray, batch_size: int = 256):
    """A function returning the model's BPC on a fixed set of windows."""
    dataset = tf.data.Dataset.from_tensor_slices(
        (inputs.astype(np.int32), targets.astype(np.int32))).batch(batch_size).cache()
    # One trace for every batch, the last and smaller one included.
    windows = tf.TensorSpec([None, inputs.shape[1]], tf.int32)

    @tf.function(input_signature=[windows, windows])
    def batch_nats(x, y):
        return summed_nats(y, model(x, training=False))

    def evaluate() -> float:
        total = sum(float(batch_nats(x, y)) for x, y in dataset)
        return total / targets.size / LN2

    return evaluate


def make_carried_evaluator(model, ids: np.ndarray, len_per_section: int, streams: int = 50):
    """A function returning the model's BPC on ``ids`` read as ``streams`` stretches of text,
    the LSTM state carried from one section to the next within each: each character is scored
    with all the text before it in its stretch (2,000 characters for 100,000 in 50 stretches).
    """
    n_sections = _sections_in(ids, len_per_section)
    streams = min(streams, n_sections)
    per_stream = n_sections // streams * len_per_section
    used = np.asarray(ids[: streams * per_stream + 1], dtype=np.int32)
    inputs = used[:-1].reshape(streams, per_stream)
    targets = used[1:].reshape(streams, per_stream)
    zeros = tf.zeros([streams, model.hidden_nodes])

    @tf.function(reduce_retracing=True)
    def section_nats(x, y, states):
        logits, states = model(x, states=states, return_state=True, training=False)
        return summed_nats(y, logits), states

    def evaluate() -> float:
        states = [[zeros, zeros] for _ in range(model.num_layers)]
        total = 0.0
        for start in range(0, per_stream, len_per_section):
            part = slice(start, start + len_per_section)
            nats, states = section_nats(inputs[:, part], targets[:, part], states)
            total += float(nats)
        return total / targets.size / LN2

    return evaluate
