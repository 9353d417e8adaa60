"""Reference solutions to the exercises at the end of notebook 03 (try them yourself first).

`helpers.exercises.check_lstm_step` and `check_lstm_parameters` accept these;
`tests/test_exercises.py` holds them to it.
"""

import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def lstm_step(x, h, c, kernel, recurrent_kernel, bias):
    """One step of FourGateLSTM in NumPy: the gates in the order i, f, c, o, returning (h, c)."""
    z = x @ kernel + h @ recurrent_kernel + bias
    z_i, z_f, z_c, z_o = np.split(z, 4, axis=-1)
    i, f, g, o = sigmoid(z_i), sigmoid(z_f), np.tanh(z_c), sigmoid(z_o)
    c = f * c + i * g
    h = o * np.tanh(c)
    return h, c


def lstm_parameters(input_dim, units):
    """Kernel (D x 4H), recurrent kernel (H x 4H) and bias (4H)."""
    return 4 * (input_dim * units + units * units + units)
