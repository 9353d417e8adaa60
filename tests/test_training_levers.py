"""The training levers of issue 17: state carried across batches (truncated backpropagation
through time), a warm-up, AdamW's weight decay, and validation with the state carried."""

import numpy as np
import pytest
from conftest import tiny, without_timings

from helpers.backend import tf
from helpers.batches import stream_dataset
from helpers.checkpoints import load_run
from helpers.config import TrainConfig
from helpers.evaluation import make_carried_evaluator, make_evaluator, validation_windows
from helpers.step import build_optimizer, learning_rate_schedule
from helpers.training import train

pytestmark = pytest.mark.slow  # each lever is trained, with and without it


def batches(dataset, n):
    return [tuple(t.numpy() for t in batch) for batch in dataset.take(n)]


def test_each_row_continues_its_own_stream_from_step_to_step():
    ids = np.arange(10_000)  # each id its position
    steps = batches(stream_dataset(ids, batch_size=4, len_per_section=10, seed=3), 4)
    for (inputs, targets, _), (next_inputs, _, next_reset) in zip(steps[:-1], steps[1:],
                                                                  strict=True):
        assert not next_reset
        # The next step begins where this one ended, in every row.
        assert np.array_equal(next_inputs[:, 0], targets[:, -1])
        assert np.array_equal(targets[:, :-1], inputs[:, 1:])
    assert steps[0][2]  # the first step of a pass starts from zeros
    # The four streams are the text's four quarters, entered at one shift below a section.
    shift = steps[0][0][:, 0] - np.array([0, 2_500, 5_000, 7_500])
    assert len(set(shift.tolist())) == 1 and 0 <= shift[0] < 10


def test_streams_reset_at_each_pass_and_shift_their_cuts():
    ids = np.arange(2_000) % 97
    dataset = stream_dataset(ids, batch_size=4, len_per_section=10, seed=0)
    per_epoch = (2_000 // 4 - 11) // 10
    steps = batches(dataset, 3 * per_epoch)
    resets = [i for i, (_, _, reset) in enumerate(steps) if reset]
    assert resets == [0, per_epoch, 2 * per_epoch]
    # The random shift of each pass moves where the sections are cut.
    firsts = {int(steps[i][0][0, 0]) for i in resets}
    assert len(firsts) > 1


def test_stream_batches_are_a_function_of_seed_and_step():
    ids = np.arange(5_000) % 200
    whole = batches(stream_dataset(ids, 8, 20, seed=1), 30)
    resumed = batches(stream_dataset(ids, 8, 20, seed=1, start_step=17), 13)
    for a, b in zip(whole[17:], resumed, strict=True):
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    other = batches(stream_dataset(ids, 8, 20, seed=2), 1)
    assert not np.array_equal(other[0][0], whole[0][0])


def test_a_text_too_short_for_streams_is_refused_with_its_sizes():
    with pytest.raises(ValueError, match="streams gives 20 characters a stream"):
        stream_dataset(np.arange(160), batch_size=8, len_per_section=10)


def test_carry_state_needs_no_skip():
    with pytest.raises(ValueError, match="skip must be None with carry_state"):
        TrainConfig(carry_state=True, skip=50).validate()
    with pytest.raises(ValueError, match="carry_state must be True or False"):
        TrainConfig(carry_state="yes").validate()


def test_carried_training_keeps_its_state_and_resumes_exactly(tmp_path):
    config = tiny(tmp_path, "carried", carry_state=True, max_steps=10)
    history = train(config, progress=False, verbose=False)
    assert history[-1]["step"] == 10 and np.isfinite(history[-1]["valid_bpc"])
    # The state is in the checkpoint: not zeros after ten steps.
    reader = tf.train.load_checkpoint(str(config.run_dir / "checkpoints"))
    names = [n for n in reader.get_variable_to_shape_map() if n.startswith("carried_state")]
    assert len(names) == 2 and all(np.abs(reader.get_tensor(n)).sum() > 0 for n in names)

    # Stopped at step 5 and resumed: the same history and weights as straight through.
    halves = tiny(tmp_path, "halves", carry_state=True, max_steps=5)
    train(halves, progress=False, verbose=False)
    halves.max_steps = 10
    resumed = train(halves, progress=False, verbose=False)
    assert without_timings(resumed) == without_timings(history)
    for a, b in zip(load_run(halves.run_dir).model.get_weights(),
                    load_run(config.run_dir).model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_carried_state_is_what_the_next_step_starts_from():
    from helpers.training import CarriedState

    state = CarriedState(batch_size=2, hidden_nodes=3, num_layers=1)
    [[h, c]] = state.start(reset=tf.constant([[False], [False]]))  # one flag a row
    assert not h.numpy().any() and not c.numpy().any()  # zeros before the first step
    state.keep([[tf.ones([2, 3]), 2 * tf.ones([2, 3])]])
    [[h, c]] = state.start(reset=tf.constant([[True], [False]]))  # row 0 starts a new stream
    np.testing.assert_array_equal(h.numpy(), [[0, 0, 0], [1, 1, 1]])
    np.testing.assert_array_equal(c.numpy(), [[0, 0, 0], [2, 2, 2]])


def test_carry_state_cannot_be_switched_on_resume(tmp_path):
    config = tiny(tmp_path, max_steps=5)
    train(config, progress=False, verbose=False)
    with pytest.raises(ValueError, match="carry_state"):
        train(tiny(tmp_path, max_steps=10, carry_state=True), progress=False, verbose=False)


def test_warmup_climbs_linearly_then_follows_the_schedule():
    constant = learning_rate_schedule(TrainConfig(learning_rate=0.01, warmup_steps=10))
    assert [round(float(constant(s)), 6) for s in (0, 5, 10, 500)] == [0.0, 0.005, 0.01, 0.01]
    cosine = learning_rate_schedule(TrainConfig(learning_rate=0.01, warmup_steps=10,
                                                max_steps=110, lr_schedule="cosine"))
    assert float(cosine(5)) == pytest.approx(0.005)
    assert float(cosine(10)) == pytest.approx(0.01)
    assert float(cosine(60)) == pytest.approx(0.01 * (0.1 + 0.9 * 0.5))  # half-way down
    assert float(cosine(110)) == pytest.approx(0.001)
    with pytest.raises(ValueError, match="warmup_steps=500 must be below max_steps=500"):
        TrainConfig(warmup_steps=500).validate()


def test_adam_beta2_reaches_adam_and_adamw_and_is_checked():
    assert build_optimizer(TrainConfig()).beta_2 == 0.999
    assert build_optimizer(TrainConfig(adam_beta2=0.99)).beta_2 == 0.99
    assert build_optimizer(TrainConfig(adam_beta2=0.95, weight_decay=0.1)).beta_2 == 0.95
    for bad in (1.0, -0.1, float("nan"), "0.99"):
        with pytest.raises(ValueError, match="adam_beta2"):
            TrainConfig(adam_beta2=bad).validate()


def test_weight_decay_uses_adamw_and_spares_the_biases():
    assert type(build_optimizer(TrainConfig())).__name__ == "Adam"
    optimizer = build_optimizer(TrainConfig(weight_decay=0.1))
    assert type(optimizer).__name__ == "AdamW" and optimizer.weight_decay == 0.1
    kernel = tf.Variable(tf.ones([2, 2]), name="kernel")
    bias = tf.Variable(tf.ones([2]), name="bias")
    optimizer.build([kernel, bias])
    optimizer.apply_gradients([(tf.zeros([2, 2]), kernel), (tf.zeros([2]), bias)])
    # A zero gradient: only the decay moves a weight, and only the kernel's.
    assert float(kernel[0, 0]) < 1.0 and float(bias[0]) == 1.0
    for bad in (-0.1, float("nan"), True):
        with pytest.raises(ValueError, match="weight_decay"):
            TrainConfig(weight_decay=bad).validate()


def test_weight_decay_shrinks_the_weight_matrices_and_spares_the_biases(tmp_path):
    def trained(name, decay):
        history = train(tiny(tmp_path, name, weight_decay=decay, warmup_steps=3, max_steps=10),
                        progress=False, verbose=False)
        assert history[-1]["valid_bpc"] < history[0]["valid_bpc"]  # it still learns
        # The variables in model order, named by their layer ("lstm_0/kernel").
        return {"/".join(v.path.split("/")[1:]): v.numpy()
                for v in load_run(tmp_path / name).model.trainable_variables}

    plain, decayed = trained("plain", 0.0), trained("decayed", 0.5)
    assert plain.keys() == decayed.keys()
    matrices = [name for name in plain if "bias" not in name]
    for name in matrices:  # the same steps, and each matrix pulled towards zero
        assert np.linalg.norm(decayed[name]) < np.linalg.norm(plain[name]), name
    # A bias gets no decay: its Adam steps are the same, whatever the decay does elsewhere, up
    # to what the decayed weights change in its gradient.
    biases = [name for name in plain if "bias" in name]
    assert biases and all(np.linalg.norm(decayed[n]) > 0.5 * np.linalg.norm(plain[n])
                          for n in biases)


def test_carried_validation_reads_each_stretch_with_its_context(tmp_path):
    config = tiny(tmp_path, max_steps=10)
    train(config, progress=False, verbose=False)
    run = load_run(config.run_dir)
    ids = (np.arange(1_000) * 7 % len(run.vocabulary)).astype(np.int32)
    windowed = make_evaluator(run.model, *validation_windows(ids, 20))()
    # One stretch per section: every section starts from zeros, as with the windows.
    assert make_carried_evaluator(run.model, ids, 20, streams=49)() == \
        pytest.approx(windowed, rel=1e-5)
    # Fewer stretches: the state runs on, and the figure changes.
    assert make_carried_evaluator(run.model, ids, 20, streams=5)() != \
        pytest.approx(windowed, rel=1e-5)


def test_history_rows_carry_both_validation_figures(tmp_path):
    history = train(tiny(tmp_path, max_steps=5), progress=False, verbose=False)
    assert all(np.isfinite(row["valid_bpc_carried"]) for row in history)



def test_recurrent_dropout_thins_the_kernel_in_training_only(monkeypatch):
    from helpers.backend import keras
    from helpers.model import CharLSTM, FourGateLSTM

    keras.utils.set_random_seed(0)
    layer = FourGateLSTM(8, return_sequences=True, input_dim=5, recurrent_dropout=0.5)
    plain = FourGateLSTM(8, return_sequences=True, input_dim=5)
    ids = tf.constant(np.arange(30).reshape(3, 10) % 5, tf.int32)
    layer(ids)
    plain(ids)
    plain.set_weights(layer.get_weights())
    np.testing.assert_allclose(layer(ids, training=False), plain(ids), rtol=1e-6)
    thinned = []  # the kernel the layer really trains with, as keras.random.dropout made it
    dropout = keras.random.dropout
    monkeypatch.setattr(keras.random, "dropout",
                        lambda *args, **kwargs: thinned.append(dropout(*args, **kwargs))
                        or thinned[-1])
    dropped = layer(ids, training=True)
    [kernel] = thinned
    weights, kept = layer.recurrent_kernel.numpy(), kernel.numpy() != 0
    np.testing.assert_allclose(kernel.numpy()[kept], 2 * weights[kept], rtol=1e-6)
    assert 0.3 < 1 - kept.mean() < 0.7  # about half of the weights dropped
    h = c = tf.zeros([3, 8])
    sequence, _, _ = layer._unrolled(layer.project_inputs(ids), h, c, kernel)
    np.testing.assert_allclose(dropped, sequence, rtol=1e-6)  # it ran with that kernel
    assert not np.allclose(dropped, plain(ids))
    # The hand-written backward pass gives that thinned kernel autodiff's gradient.
    projected = layer.project_inputs(ids)
    h = c = tf.zeros([3, 8])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(kernel)
        sequence, _, _ = layer._unrolled(projected, h, c, kernel)
        steps = []
        hh, cc = h, c
        for t in range(10):
            hh, cc = layer.step(projected[:, t], hh, cc, recurrent_kernel=kernel)
            steps.append(hh)
        looped = tf.stack(steps, axis=1)
        loss_a, loss_b = tf.reduce_sum(sequence ** 2), tf.reduce_sum(looped ** 2)
    np.testing.assert_allclose(sequence, looped, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tape.gradient(loss_a, kernel), tape.gradient(loss_b, kernel),
                               rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="recurrent_dropout"):
        CharLSTM(10, recurrent_dropout=0.2, cell="keras")
    with pytest.raises(ValueError, match="recurrent_dropout needs cell='four_gate'"):
        TrainConfig(recurrent_dropout=0.2, cell="keras").validate()
    with pytest.raises(ValueError, match="recurrent_dropout must lie in"):
        TrainConfig(recurrent_dropout=1.0).validate()


def test_recurrent_dropout_trains_and_reloads(tmp_path):
    config = tiny(tmp_path, recurrent_dropout=0.3, max_steps=10)
    history = train(config, progress=False, verbose=False)
    assert history[-1]["valid_bpc"] < history[0]["valid_bpc"]
    assert load_run(config.run_dir).model.lstm_layers[0].recurrent_dropout == 0.3


@pytest.mark.parametrize("overrides", [
    {"cell": "keras"},
    {"num_layers": 2, "embedding_dim": 8, "carry_state": True, "recurrent_dropout": 0.2,
     "dropout": 0.2},
])
def test_the_levers_train_with_every_model_shape(tmp_path, overrides):
    history = train(tiny(tmp_path, max_steps=5, **overrides), progress=False, verbose=False)
    assert all(np.isfinite(row["valid_bpc_carried"]) for row in history)
    assert history[-1]["valid_bpc"] < history[0]["valid_bpc"]
