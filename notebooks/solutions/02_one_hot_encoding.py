"""Reference solutions to the exercises at the end of notebook 02 (try them yourself first).

`helpers.exercises.check_one_hot` and `check_inputs_and_targets` accept these;
`tests/test_exercises.py` holds them to it.
"""

import numpy as np


def one_hot(text, chars):
    """float32 rows (len(text), len(chars) + 1): chars[i] has id i + 1, anything else id 0."""
    id_of = {char: i + 1 for i, char in enumerate(chars)}
    rows = np.zeros((len(text), len(chars) + 1), dtype=np.float32)
    for position, char in enumerate(text):
        rows[position, id_of.get(char, 0)] = 1.0
    return rows


def inputs_and_targets(ids, length):
    """Every complete window of length + 1 ids, one starting every `length` ids: the inputs
    are its first `length` ids, the targets its last `length` (the inputs shifted by one)."""
    ids = np.asarray(ids)
    count = (len(ids) - 1) // length
    windows = np.stack([ids[k * length : k * length + length + 1] for k in range(count)])
    return windows[:, :-1], windows[:, 1:]
