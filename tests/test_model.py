import numpy as np
import pytest

from helpers.backend import keras, tf
from helpers.model import CharLSTM, FourGateLSTM


def _pair(units=16, input_dim=7, seed=0):
    """Our layer and keras.layers.LSTM holding the very same weights."""
    keras.utils.set_random_seed(seed)
    x = np.random.default_rng(seed).normal(size=(4, 9, input_dim)).astype("float32")
    ours = FourGateLSTM(units, return_sequences=True, return_state=True)
    ours(x)
    # Non-trivial biases, so a mix-up of the gate order cannot hide behind zeros.
    kernel, recurrent, bias = ours.get_weights()
    ours.set_weights([kernel, recurrent, np.random.default_rng(1).normal(size=bias.shape)])
    reference = keras.layers.LSTM(units, return_sequences=True, return_state=True)
    reference(x)
    reference.set_weights(ours.get_weights())
    return ours, reference, x


def test_weights_use_the_keras_layout():
    ours, reference, _ = _pair(units=5, input_dim=3)
    assert [w.shape for w in ours.get_weights()] == [(3, 20), (5, 20), (20,)]
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in reference.get_weights()]


def test_outputs_and_states_match_keras():
    ours, reference, x = _pair()
    for a, b in zip(ours(x), reference(x), strict=True):
        assert np.abs(a.numpy() - b.numpy()).max() < 1e-5


def test_initial_state_is_used_like_keras():
    ours, reference, x = _pair()
    rng = np.random.default_rng(2)
    state = [rng.normal(size=(4, 16)).astype("float32") for _ in range(2)]
    for a, b in zip(ours(x, initial_state=state), reference(x, initial_state=state),
                    strict=True):
        assert np.abs(a.numpy() - b.numpy()).max() < 1e-5


def test_gradients_match_keras():
    ours, reference, x = _pair()
    x = tf.constant(x)

    def grads(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            seq, h, c = layer(x)
            loss = tf.reduce_sum(seq ** 2) + tf.reduce_sum(tf.sin(c))
        return tape.gradient(loss, [x] + layer.trainable_weights)

    for a, b in zip(grads(ours), grads(reference), strict=True):
        assert np.abs(a.numpy() - b.numpy()).max() < 1e-5


def test_candidate_memory_uses_tanh_not_sigmoid():
    # With only the candidate's bias large and negative, tanh writes negative memory.
    layer = FourGateLSTM(1, return_state=True)
    layer(np.zeros((1, 1, 1), "float32"))
    layer.set_weights([np.zeros((1, 4)), np.zeros((1, 4)), np.array([5.0, 0.0, -5.0, 5.0])])
    _, _, c = layer(np.zeros((1, 1, 1), "float32"))
    assert c.numpy()[0, 0] < -0.9


def test_ids_input_is_the_same_as_one_hot_input():
    keras.utils.set_random_seed(0)
    ids = np.array([[3, 1, 4, 1, 5]], dtype=np.int32)
    by_ids = FourGateLSTM(8, return_sequences=True, input_dim=10)
    by_ids(ids)
    dense = FourGateLSTM(8, return_sequences=True)
    dense(np.eye(10, dtype="float32")[ids])
    dense.set_weights(by_ids.get_weights())
    np.testing.assert_allclose(by_ids(ids), dense(np.eye(10, dtype="float32")[ids]), atol=1e-6)


def test_return_values_follow_keras():
    x = np.zeros((2, 3, 4), "float32")
    assert FourGateLSTM(5)(x).shape == (2, 5)
    assert FourGateLSTM(5, return_sequences=True)(x).shape == (2, 3, 5)
    out, h, c = FourGateLSTM(5, return_state=True)(x)
    assert out.shape == h.shape == c.shape == (2, 5)


def test_dynamic_length_loop_matches_unrolled():
    ours, _, x = _pair()
    unrolled = ours(x)
    loop = tf.function(lambda t: ours(t), input_signature=[
        tf.TensorSpec([None, None, 7], tf.float32)])(tf.constant(x))
    for a, b in zip(unrolled, loop, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("cell, embedding_dim", [("four_gate", None), ("four_gate", 8),
                                                 ("keras", None)])
def test_char_model_shapes_and_stateful_steps(cell, embedding_dim):
    model = CharLSTM(30, 16, num_layers=2, embedding_dim=embedding_dim, cell=cell)
    ids = np.random.default_rng(0).integers(0, 30, size=(3, 12)).astype(np.int32)
    logits, states = model(ids, return_state=True)
    assert logits.shape == (3, 12, 30) and len(states) == 2
    # Feeding the text in two pieces, carrying the state, gives the same logits.
    first, states = model(ids[:, :5], return_state=True)
    second = model(ids[:, 5:], states=states)
    np.testing.assert_allclose(np.concatenate([first, second], 1), logits, atol=1e-5)


def test_four_gate_and_keras_char_models_agree_with_the_same_weights():
    ours = CharLSTM(20, 8, cell="four_gate").build_for()
    theirs = CharLSTM(20, 8, cell="keras").build_for()
    theirs.set_weights(ours.get_weights())
    ids = np.arange(20, dtype=np.int32)[None] % 20
    np.testing.assert_allclose(ours(ids), theirs(ids), atol=1e-5)


@pytest.mark.parametrize("kwargs, name", [({"hidden_nodes": 0}, "hidden_nodes"),
                                          ({"num_layers": -1}, "num_layers"),
                                          ({"cell": "gru"}, "cell"),
                                          ({"dropout": 1.5}, "dropout")])
def test_char_model_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        CharLSTM(10, **kwargs)
