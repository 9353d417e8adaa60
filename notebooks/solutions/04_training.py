"""Reference solutions to the exercises at the end of notebook 04 (try them yourself first).

`helpers.exercises.check_bits_per_char`, `check_clip_by_global_norm` and `check_training_step`
accept these; `tests/test_exercises.py` holds them to it.
"""

import numpy as np


def log_softmax(logits):
    """log(softmax(logits)) over the last axis, without overflow: the largest logit is taken
    out first, which leaves the softmax unchanged."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def bits_per_char(logits, targets):
    """Mean cross-entropy in bits: logits [batch, length, vocabulary], targets [batch, length]."""
    log_probs = log_softmax(np.asarray(logits, dtype=np.float64))
    chosen = np.take_along_axis(log_probs, np.asarray(targets)[..., None], axis=-1)
    return float(-chosen.mean() / np.log(2))


def clip_by_global_norm(gradients, clip_norm):
    """Every gradient scaled by one factor, so that all of them together are at most
    `clip_norm` long."""
    norm = np.sqrt(sum(np.sum(np.square(g)) for g in gradients))
    scale = min(1.0, clip_norm / norm)
    return [g * scale for g in gradients]


def training_step(weights, input_ids, target_ids, learning_rate):
    """One step of gradient descent for the bigram model: logits = weights[input_ids]."""
    logits = weights[input_ids]
    probabilities = np.exp(log_softmax(logits))
    one_hot = np.eye(weights.shape[1])[target_ids]
    rows = (probabilities - one_hot) / len(input_ids)  # d(mean loss) / d(logits)
    gradient = np.zeros_like(weights)
    np.add.at(gradient, input_ids, rows)  # an id seen twice gets both rows
    return weights - learning_rate * gradient
