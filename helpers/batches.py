"""Batches for training: the ``tf.data`` pipelines that cut a text's ids into sequences.

``batch_dataset`` draws windows of the text in a shuffled order, a pure function of the seed and
the step; ``stream_dataset`` gives each batch row its own stretch of the text, read section
after section (for ``carry_state``). Both start at any step, so a resumed run continues with the
very batches it would have trained on.
"""

from __future__ import annotations

import numpy as np

from helpers.backend import tf
from helpers.checks import check_int
from helpers.encoding import sections


def batch_dataset(
    ids: np.ndarray,
    batch_size: int,
    len_per_section: int,
    skip: int | None = None,
    seed: int = 0,
    start_step: int = 0,
    shuffle: bool = True,
):
    """A deterministic, endless ``tf.data`` pipeline of ``(inputs, targets)`` id batches.

    Each example is a window of ``len_per_section`` ids and the same window shifted by one
    character: a target at every position, as the original's graph had too (it scored each
    step's output against the next input character). Windows start every ``skip``
    characters (default ``len_per_section``: no overlap, where the original started one
    every 2 characters) and are shuffled, where the original took them in order.

    The batch of step ``s`` is a pure function of ``(seed, s)``: epoch ``e`` visits the windows
    in a permutation seeded by ``(seed, e)``. So the data order state is just the step
    counter, which the checkpoint holds, and a resumed run (``start_step``) sees exactly the
    batches an uninterrupted run would have seen.

    Memory and time do not grow with the text beyond its ids: ``ids`` is copied once into
    TensorFlow in its own dtype (uint8 for most vocabularies), and each batch's windows are
    gathered from it. An epoch's permutation is computed once per epoch, not once per step.
    The batches are int32 whatever the dtype of ``ids``.
    """
    check_int("batch_size", batch_size)
    check_int("len_per_section", len_per_section)
    skip = len_per_section if skip is None else skip
    ids = _integer_ids(ids)
    windows, _ = sections(ids, len_per_section + 1, skip)
    n_windows = len(windows)
    if n_windows < batch_size:
        raise ValueError(
            f"text of {len(ids)} characters gives {n_windows} sections of "
            f"{len_per_section + 1} characters, fewer than batch_size={batch_size}"
        )
    if start_step < 0:
        raise ValueError(f"start_step must not be negative, got {start_step}")
    steps_per_epoch = n_windows // batch_size
    first_epoch = start_step // steps_per_epoch

    def window_starts_of_epoch(epoch):
        """The first id of each window of every step of ``epoch``: [steps_per_epoch, batch]."""
        order = tf.range(n_windows, dtype=tf.int64)
        if shuffle:
            order = tf.random.experimental.stateless_shuffle(
                order, seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
        used = order[: steps_per_epoch * batch_size]
        return tf.data.Dataset.from_tensor_slices(
            tf.reshape(used * skip, [steps_per_epoch, batch_size]))

    # One copy of the ids in TensorFlow, in their own small dtype. (A tf.numpy_function here
    # needs the GIL inside tf.data's threads: deleting the iterator while one was in flight
    # hung the kernel after training.)
    data = tf.constant(ids)
    offsets = tf.range(len_per_section + 1, dtype=tf.int64)

    def batch_at(starts):
        chunk = tf.cast(tf.gather(data, starts[:, None] + offsets[None, :]), tf.int32)
        return chunk[:, :-1], chunk[:, 1:]

    epochs = tf.data.Dataset.range(first_epoch, 2**62 // steps_per_epoch)
    starts = epochs.flat_map(window_starts_of_epoch)
    return starts.skip(start_step - first_epoch * steps_per_epoch).map(batch_at).prefetch(2)


def stream_dataset(ids: np.ndarray, batch_size: int, len_per_section: int, seed: int = 0,
                   start_step: int = 0):
    """Batches for truncated backpropagation through time: ``(inputs, targets, reset)``.

    The text is cut into ``batch_size`` equal streams, one per batch row, and step after step
    each row reads the next ``len_per_section`` characters of its own stream, so the LSTM state
    a row ends one step with is the right state to begin the next step with (``train`` carries
    it when ``carry_state`` is set). ``reset`` is True on the first step of each pass over the
    text, where the state must start again from zeros. Each pass begins at a random offset
    below ``len_per_section``, so the cuts between steps fall elsewhere every pass.

    As with ``batch_dataset``, the batch of step ``s`` is a pure function of ``(seed, s)``.
    """
    check_int("batch_size", batch_size)
    check_int("len_per_section", len_per_section)
    ids = _integer_ids(ids)
    stream_length = len(ids) // batch_size
    # Room for the offset (below one section) and the last target character.
    steps_per_epoch = (stream_length - len_per_section - 1) // len_per_section
    if steps_per_epoch < 1:
        raise ValueError(
            f"text of {len(ids):,} characters cut into batch_size={batch_size} streams gives "
            f"{stream_length:,} characters a stream, fewer than the {2 * len_per_section + 1:,} "
            f"that carrying state through sections of len_per_section={len_per_section} needs")
    if start_step < 0:
        raise ValueError(f"start_step must not be negative, got {start_step}")
    data = tf.constant(ids)
    stream_starts = tf.range(batch_size, dtype=tf.int64) * stream_length
    offsets = tf.range(len_per_section + 1, dtype=tf.int64)

    def batch_at(step):
        epoch, position = step // steps_per_epoch, step % steps_per_epoch
        shift = tf.random.stateless_uniform([], seed=tf.stack([tf.constant(seed, tf.int64),
                                                               epoch]),
                                            maxval=len_per_section, dtype=tf.int64)
        starts = stream_starts + shift + position * len_per_section
        chunk = tf.cast(tf.gather(data, starts[:, None] + offsets[None, :]), tf.int32)
        return chunk[:, :-1], chunk[:, 1:], tf.equal(position, 0)

    return tf.data.Dataset.range(start_step, 2**62).map(batch_at).prefetch(2)


def _integer_ids(ids) -> np.ndarray:
    """``ids`` as a NumPy integer array, not copied when it already is one."""
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise ValueError(f"ids must be integers, got an array of {ids.dtype}")
    return ids


# --------------------------------------------------------------------------------------------
# WikiText's tokenisation, undone for reading
#
# WikiText-2 is stored tokenised: spaces around punctuation (" , ", " . ", "( 24 in )"), and
# hyphens, thousands separators and decimal points inside numbers marked " @-@ ", " @,@ ",
# " @.@ ". The model learns (and generates) exactly that form; `detokenize` turns it into
# ordinary text for a reader (tests/test_encoding.py checks that it loses nothing, with an
# inverse on the markers handled here).

