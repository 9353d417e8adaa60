"""Reference solutions to the exercises at the end of notebook 05 (try them yourself first).

`helpers.exercises.check_temperature_sampling` and `check_top_p` accept these;
`tests/test_exercises.py` holds them to it.
"""

import numpy as np


def sample(logits, temperature, r):
    """The id drawn for the uniform number r in [0, 1): the first whose running sum of
    probabilities is above r, after dividing the logits by the temperature."""
    logits = np.asarray(logits, dtype=np.float64)
    if temperature == 0:
        return int(np.argmax(logits))
    scaled = logits / temperature
    probabilities = np.exp(scaled - scaled.max())
    probabilities /= probabilities.sum()
    running_sum = 0.0
    for i, p in enumerate(probabilities):
        running_sum += p
        if running_sum > r:
            return i
    return len(probabilities) - 1  # r within rounding of 1


def top_p_filter(probabilities, p):
    """The likeliest characters whose probabilities reach p together, shared out again."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    order = np.argsort(-probabilities, kind="stable")
    kept = np.zeros_like(probabilities)
    total = 0.0
    for i in order:
        if total >= p:
            break
        kept[i] = probabilities[i]
        total += probabilities[i]
    return kept / kept.sum()
