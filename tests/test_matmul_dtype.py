"""``matmul_dtype="bfloat16"``: the recurrent products in bfloat16, everything else float32."""

import numpy as np
import pytest
from test_model import _layer_and_inputs, _plain_loop, _values_and_gradients

from helpers import checks
from helpers.backend import tf
from helpers.checks import bfloat16_cpu_features
from helpers.config import TrainConfig
from helpers.model import CharLSTM, FourGateLSTM, build_model


def _run(layer):
    return lambda x, s: layer(x, initial_state=s, training=True)


@pytest.mark.parametrize("ids", [True, False], ids=["ids", "floats"])
def test_bfloat16_products_stay_close_to_float32(ids):
    layer, x, state, weights = _layer_and_inputs(ids, True, True)
    want = _values_and_gradients(_run(layer), layer, x, state, weights)
    layer.matmul_dtype = "bfloat16"
    got = _values_and_gradients(_run(layer), layer, x, state, weights)
    for a, b in zip(got, want, strict=True):
        a, b = tf.convert_to_tensor(a).numpy(), tf.convert_to_tensor(b).numpy()
        assert a.dtype == np.float32  # the values and gradients stay float32
        # bfloat16 keeps 8 bits of mantissa: close, but not float32's agreement.
        np.testing.assert_allclose(a, b, rtol=0.05, atol=0.02 * np.abs(b).max())
        assert not np.array_equal(a, b)


@pytest.mark.parametrize("ids", [True, False], ids=["ids", "floats"])
def test_bfloat16_hand_written_backward_matches_autodiff_in_bfloat16(ids):
    layer, x, state, weights = _layer_and_inputs(ids, True, True)
    layer.matmul_dtype = "bfloat16"

    def plain(x, s):
        return _plain_loop(layer, x, s, recurrent_kernel=tf.cast(layer.recurrent_kernel,
                                                                 tf.bfloat16))

    got = _values_and_gradients(_run(layer), layer, x, state, weights)
    want = _values_and_gradients(plain, layer, x, state, weights)
    for a, b in zip(got, want, strict=True):
        b = tf.convert_to_tensor(b).numpy()
        # Autodiff adds the kernel's T gradients in bfloat16; ours makes one product.
        np.testing.assert_allclose(tf.convert_to_tensor(a).numpy(), b, rtol=0.02,
                                   atol=0.01 * np.abs(b).max())


def test_every_recurrent_product_runs_in_bfloat16():
    layer, x, _, weights = _layer_and_inputs(False, True, False, time_steps=5)
    layer.matmul_dtype = "bfloat16"

    @tf.function
    def gradients(x):
        with tf.GradientTape() as tape:
            out, _, _ = layer(x, training=True)
            loss = tf.reduce_sum(out * weights[0])
        return tape.gradient(loss, layer.trainable_weights)

    graph = gradients.get_concrete_function(x).graph
    products = [op for op in graph.get_operations() if op.type == "MatMul"]
    assert len(products) == 2 * 5 + 1
    assert {op.get_attr("T") for op in products} == {tf.bfloat16}
    assert all(g.dtype == tf.float32 for g in gradients(x))


@pytest.mark.parametrize("time_steps", [5, 12], ids=["unrolled", "loop"])
def test_outside_training_the_products_are_float32(monkeypatch, time_steps):
    """Validation and sampling read the trained model in float32: exactly what the same weights
    give with matmul_dtype="float32", whichever form the layer runs in."""
    from helpers import model

    monkeypatch.setattr(model, "UNROLL_LIMIT", 8)
    layer, x, state, _ = _layer_and_inputs(True, True, True, time_steps=time_steps)
    want = [t.numpy() for t in layer(x, initial_state=state)]
    layer.matmul_dtype = "bfloat16"
    for training in (False, None):
        got = [t.numpy() for t in tf.function(
            lambda x, s, training=training: layer(x, initial_state=s, training=training))(x, state)]
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
    trained = layer(x, initial_state=state, training=True)[0].numpy()
    assert not np.array_equal(trained, want[0])  # while training, bfloat16


def test_matmul_dtype_is_refused_where_it_cannot_apply():
    with pytest.raises(ValueError, match="matmul_dtype must be one of"):
        TrainConfig(matmul_dtype="float16").validate()
    with pytest.raises(ValueError, match="matmul_dtype='bfloat16' needs cell='four_gate'"):
        TrainConfig(matmul_dtype="bfloat16", cell="keras").validate()
    with pytest.raises(ValueError, match="matmul_dtype='bfloat16' needs cell='four_gate'"):
        CharLSTM(10, matmul_dtype="bfloat16", cell="keras")
    with pytest.raises(ValueError, match="matmul_dtype must be 'float32' or 'bfloat16'"):
        FourGateLSTM(4, matmul_dtype="half")


def test_the_char_model_passes_its_matmul_dtype_to_every_layer_and_its_config():
    model = CharLSTM(10, 8, num_layers=2, matmul_dtype="bfloat16").build_for(2, 3)
    assert [layer.matmul_dtype for layer in model.lstm_layers] == ["bfloat16"] * 2
    assert model.get_config()["matmul_dtype"] == "bfloat16"
    assert CharLSTM.from_config(model.get_config()).lstm_layers[1].matmul_dtype == "bfloat16"
    assert model(tf.zeros([2, 3], tf.int32)).dtype == tf.float32


@pytest.mark.parametrize("features, chosen", [([], "float32"), (["amx_bf16"], "bfloat16")])
def test_auto_is_bfloat16_where_the_cpu_multiplies_it(monkeypatch, features, chosen):
    monkeypatch.setattr(checks, "bfloat16_cpu_features", lambda: features)
    assert TrainConfig(matmul_dtype="auto").validate().matmul_dtype == chosen
    # What a run records (config.json) is the dtype it used, not "auto".
    assert TrainConfig(matmul_dtype="auto").validate().to_json()["matmul_dtype"] == chosen
    model = build_model(TrainConfig(matmul_dtype="auto"), 10)  # not validated: decided there
    assert model.lstm_layers[0].matmul_dtype == chosen


def test_auto_keeps_float32_for_the_keras_cell(monkeypatch):
    monkeypatch.setattr(checks, "bfloat16_cpu_features", lambda: ["amx_bf16"])
    config = TrainConfig.from_parameters({"cell": "keras", "recurrent_dropout": 0.0},
                                         preset="main")  # the preset asks for "auto"
    assert config.validate().matmul_dtype == "float32"
    assert build_model(TrainConfig(matmul_dtype="auto", cell="keras"), 10).matmul_dtype == \
        "float32"


def test_the_cpu_features_are_read_from_cpuinfos_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx512f amx_bf16 sse2\n"
                       "bugs\t\t: avx512_bf16\n\nprocessor\t: 1\nflags\t\t: fpu amx_bf16\n")
    assert bfloat16_cpu_features(cpuinfo) == ["amx_bf16"]  # "bugs" is not "flags"
    cpuinfo.write_text("flags\t: fpu avx512_bf16 amx_bf16\n")
    assert bfloat16_cpu_features(cpuinfo) == ["avx512_bf16", "amx_bf16"]
    assert bfloat16_cpu_features(tmp_path / "absent") == []


@pytest.mark.slow  # the unrolled graph of 1,000 steps takes minutes to build
def test_the_loop_form_adds_up_the_kernels_gradient_in_float32(monkeypatch):
    """A sequence longer than UNROLL_LIMIT runs as a loop whose kernel gradient is a sum over
    its time steps: in float32 it stays as close to the unrolled one's (a single product) as
    the products' rounding allows (0.1% of the largest entry, measured); added up in bfloat16,
    the sum itself drifts (2.5%, with the kernel cast before the loop)."""
    from helpers import model

    layer, x, state, weights = _layer_and_inputs(True, True, True, time_steps=1000)
    layer.matmul_dtype = "bfloat16"

    def kernel_gradient(unroll_limit):
        monkeypatch.setattr(model, "UNROLL_LIMIT", unroll_limit)
        *_, recurrent, _ = _values_and_gradients(
            tf.function(lambda x, s: layer(x, initial_state=s, training=True)), layer, x, state,
            weights)
        return tf.convert_to_tensor(recurrent).numpy()

    unrolled, looped = kernel_gradient(1000), kernel_gradient(100)
    error = np.abs(looped - unrolled).max() / np.abs(unrolled).max()
    assert error < 0.01, error
