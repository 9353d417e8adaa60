"""helpers.corpus's one answer to "can this text fill a batch", against the windows training
really cuts (``encoding.sections``, which ``batch_dataset`` uses), and the messages it gives
for a WikiText split. (Text files: tests/test_text_file.py.)"""

import itertools

import numpy as np
import pytest

from helpers import corpus
from helpers.config import TrainConfig
from helpers.encoding import sections


@pytest.mark.parametrize("length, skip", [(1, 1), (3, 1), (3, 2), (5, 5), (4, 7), (20, 3)])
def test_sequences_in_counts_the_windows_training_cuts(length, skip):
    for n_chars in range(length + 2, length + 4 * skip + 12):
        windows, targets = sections(np.zeros(n_chars, np.int32), length + 1, skip)
        assert corpus.sequences_in(n_chars, length, skip) == len(windows) == len(targets)
    for n_chars in range(length + 2):  # too short for one window (sections refuses these)
        assert corpus.sequences_in(n_chars, length, skip) == 0


@pytest.mark.parametrize("batch_size, length, skip", list(itertools.product(
    (1, 2, 7), (1, 4, 20), (None, 1, 3, 25))))
def test_training_chars_needed_is_the_least_text_that_fills_a_batch(batch_size, length, skip):
    need = corpus.training_chars_needed(batch_size, length, skip)
    assert corpus.sequences_in(need, length, skip) >= batch_size
    assert corpus.sequences_in(need - 1, length, skip) < batch_size
    config = TrainConfig(batch_size=batch_size, len_per_section=length, skip=skip)
    corpus.check_fills_a_batch(config, need, length + 1, "the 'train' split")
    with pytest.raises(ValueError):
        corpus.check_fills_a_batch(config, need - 1, length + 1, "the 'train' split")
    with pytest.raises(ValueError):
        corpus.check_fills_a_batch(config, need, length, "the 'train' split")


@pytest.mark.parametrize("n_train, n_valid, message", [
    (2_000, 2_000, "len_per_section=2,000 is longer than the 'train' split (2,000 characters)"),
    (30_000, 2_500, "batch_size=64 is more than the 14 sequences of 2,001 characters (every "
                    "2,000) that the 'train' split (30,000 characters) holds: use a batch_size "
                    "of at most 14, or a smaller len_per_section or skip"),
    (10**6, 1_999, "len_per_section=2,000 is longer than the validation text, the first 1,999 "
                   "characters of the validation part (valid_chars=2,500): use a smaller "
                   "len_per_section or a larger valid_chars"),
])
def test_a_split_too_short_says_what_to_change(n_train, n_valid, message):
    config = TrainConfig(batch_size=64, len_per_section=2_000, valid_chars=2_500)
    with pytest.raises(ValueError) as short:
        corpus.check_fills_a_batch(config, n_train, n_valid, "the 'train' split")
    assert str(short.value) == message
