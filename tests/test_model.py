import numpy as np
import pytest

from helpers import model
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


# The unrolled layer has a hand-written backward pass (FourGateLSTM._unrolled). These tests
# hold it to TensorFlow's own gradient of the plain loop over ``step``, for every way in.

def _plain_loop(layer, x, state, recurrent_kernel=None):
    """The forward pass written as a loop over ``step``, left to autodiff."""
    projected = layer.project_inputs(x)
    h, c = state if state is not None else layer.get_initial_state(tf.shape(projected)[0])
    outputs = []
    for x_t in tf.unstack(projected, axis=1):
        h, c = layer.step(x_t, h, c, recurrent_kernel=recurrent_kernel)
        outputs.append(h)
    return tf.stack(outputs, axis=1), h, c


def _layer_and_inputs(ids, return_sequences, with_state, units=6, time_steps=7):
    rng = np.random.default_rng(3)
    keras.utils.set_random_seed(3)
    if ids:
        x = tf.constant(rng.integers(0, 11, size=(3, time_steps)), tf.int32)
        layer = FourGateLSTM(units, return_sequences=return_sequences, return_state=True,
                             input_dim=11)
    else:
        x = tf.constant(rng.normal(size=(3, time_steps, 5)).astype("float32"))
        layer = FourGateLSTM(units, return_sequences=return_sequences, return_state=True)
    layer(x)
    kernel, recurrent, bias = layer.get_weights()
    layer.set_weights([kernel, recurrent, rng.normal(size=bias.shape)])
    state = ([tf.constant(rng.normal(size=(3, units)).astype("float32")) for _ in range(2)]
             if with_state else None)
    # Different weights on every output, so each one's gradient counts on its own.
    out_shape = (3, time_steps, units) if return_sequences else (3, units)
    weights = [tf.constant(rng.normal(size=s).astype("float32"))
               for s in (out_shape, (3, units), (3, units))]
    return layer, x, state, weights


def _values_and_gradients(run, layer, x, state, weights):
    sources = ([] if x.dtype.is_integer else [x]) + list(state or []) + layer.trainable_weights
    with tf.GradientTape() as tape:
        tape.watch(sources[:len(sources) - 3])
        out, h, c = run(x, state)
        loss = (tf.reduce_sum(out * weights[0]) + tf.reduce_sum(h * weights[1])
                + tf.reduce_sum(tf.sin(c) * weights[2]))
    return [out, h, c, *tape.gradient(loss, sources)]


@pytest.mark.parametrize("in_graph", [False, True], ids=["eager", "tf.function"])
@pytest.mark.parametrize("return_sequences", [True, False], ids=["sequence", "last"])
@pytest.mark.parametrize("with_state", [False, True], ids=["zero-state", "given-state"])
@pytest.mark.parametrize("ids", [True, False], ids=["ids", "floats"])
def test_hand_written_backward_matches_autodiff(ids, with_state, return_sequences, in_graph):
    layer, x, state, weights = _layer_and_inputs(ids, return_sequences, with_state)

    def ours(x, state):
        return layer(x, initial_state=state)

    def plain(x, state):
        sequence, h, c = _plain_loop(layer, x, state)
        return (sequence if return_sequences else h), h, c

    if in_graph:
        ours, plain = tf.function(ours), tf.function(plain)
    got = _values_and_gradients(ours, layer, x, state, weights)
    want = _values_and_gradients(plain, layer, x, state, weights)
    # outputs, h, c, then d/d(float inputs), d/d(h0, c0), d/d(kernel, recurrent, bias)
    assert len(got) == 3 + (not ids) + 2 * with_state + 3
    for a, b in zip(got, want, strict=True):
        b = tf.convert_to_tensor(b).numpy()
        assert np.abs(b).max() > 0
        np.testing.assert_allclose(tf.convert_to_tensor(a).numpy(), b, rtol=1e-5,
                                   atol=1e-5 * np.abs(b).max())


def test_hand_written_backward_matches_keras_with_an_initial_state():
    ours, reference, x = _pair()
    x = tf.constant(x)
    rng = np.random.default_rng(4)
    state = [tf.constant(rng.normal(size=(4, 16)).astype("float32")) for _ in range(2)]

    def grads(layer):
        with tf.GradientTape() as tape:
            tape.watch([x, *state])
            seq, h, c = layer(x, initial_state=state)
            loss = tf.reduce_sum(seq ** 2) + tf.reduce_sum(h) + tf.reduce_sum(tf.sin(c))
        return tape.gradient(loss, [x, *state] + layer.trainable_weights)

    for a, b in zip(grads(ours), grads(reference), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b.numpy()).max())


def test_backward_pass_is_the_hand_written_one():
    # Autodiff of the loop makes 3 products per step (forward, and two in the backward pass);
    # the hand-written backward makes 2 per step and one for the whole recurrent kernel.
    layer, x, state, weights = _layer_and_inputs(False, True, False, time_steps=5)

    @tf.function
    def gradients(x):
        with tf.GradientTape() as tape:
            out, _, _ = layer(x)
            loss = tf.reduce_sum(out * weights[0])
        return tape.gradient(loss, layer.trainable_weights)

    graph = gradients.get_concrete_function(x).graph
    ops = [op for op in graph.get_operations() if op.type == "MatMul"]
    assert len(ops) == 2 * 5 + 1
    assert not any(op.get_attr("transpose_b") for op in ops)


def test_variables_and_checkpoints_keep_their_names(tmp_path):
    layer = FourGateLSTM(4, input_dim=3)
    layer(np.zeros((1, 2), np.int32))
    assert [v.path.split("/")[-1] for v in layer.weights] == ["kernel", "recurrent_kernel",
                                                              "bias"]
    names = {name for name, _ in tf.train.list_variables(
        tf.train.Checkpoint(layer=layer).write(str(tmp_path / "ckpt")))}
    assert {"layer/kernel/.ATTRIBUTES/VARIABLE_VALUE",
            "layer/recurrent_kernel/.ATTRIBUTES/VARIABLE_VALUE",
            "layer/bias/.ATTRIBUTES/VARIABLE_VALUE"} <= names


def _gradient_graph_size(layer, time_steps, input_dim=11):
    @tf.function
    def gradients(x):
        with tf.GradientTape() as tape:
            out, _, _ = layer(x)
            loss = tf.reduce_sum(out)
        return tape.gradient(loss, layer.trainable_weights)

    graph = gradients.get_concrete_function(tf.TensorSpec([2, time_steps], tf.int32)).graph
    return len(graph.get_operations())


@pytest.mark.slow
def test_long_sequences_run_as_a_loop_whose_graph_does_not_grow():
    """len_per_section 4,000 once built a graph of 4,000 unrolled steps (minutes, gigabytes)."""
    layer = FourGateLSTM(4, return_sequences=True, return_state=True, input_dim=11)
    limit = model.UNROLL_LIMIT
    unrolled = _gradient_graph_size(layer, limit)
    assert _gradient_graph_size(layer, limit // 2) < unrolled  # grows with the length
    looped = _gradient_graph_size(layer, limit + 1)
    assert looped == _gradient_graph_size(layer, 8 * limit) < unrolled / 10


@pytest.mark.parametrize("with_state", [False, True], ids=["zero-state", "given-state"])
@pytest.mark.parametrize("ids", [True, False], ids=["ids", "floats"])
def test_the_loop_form_computes_what_the_unrolled_one_does(monkeypatch, ids, with_state):
    layer, x, state, weights = _layer_and_inputs(ids, True, with_state)
    unrolled = _values_and_gradients(lambda x, s: layer(x, initial_state=s), layer, x, state,
                                     weights)
    monkeypatch.setattr(model, "UNROLL_LIMIT", 3)  # 7 steps: the loop form
    looped = _values_and_gradients(tf.function(lambda x, s: layer(x, initial_state=s)), layer,
                                   x, state, weights)
    for a, b in zip(looped, unrolled, strict=True):
        b = tf.convert_to_tensor(b).numpy()
        np.testing.assert_allclose(tf.convert_to_tensor(a).numpy(), b, rtol=1e-5,
                                   atol=1e-5 * np.abs(b).max())
