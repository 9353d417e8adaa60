"""``ema_decay``: validation and sampling from a moving average of the weights (Polyak
averaging), kept in the checkpoint, while training goes on from the weights themselves."""

import types

import numpy as np
import pytest
from conftest import tiny, without_timings

from helpers.backend import tf
from helpers.checkpoints import load_run
from helpers.config import TrainConfig
from helpers.corpus import load_training_data
from helpers.evaluation import make_evaluator, validation_windows
from helpers.step import WeightAverage
from helpers.training import TrainingDiverged, train


def test_the_average_follows_the_weights_with_a_decay_held_low_at_first():
    weights = [tf.Variable([0.0, 0.0]), tf.Variable(1.0)]
    average = WeightAverage(weights, decay=0.9)
    np.testing.assert_array_equal(average.averages[0].numpy(), [0, 0])  # starts as the weights
    weights[0].assign([10.0, -10.0])
    average.update(weights)  # n = 1: decay min(0.9, 2 / 11)
    np.testing.assert_allclose(average.averages[0].numpy(), [10 * 9 / 11, -10 * 9 / 11],
                               rtol=1e-6)
    for _ in range(200):
        average.update(weights)  # the decay reaches 0.9; the average reaches the weights
    np.testing.assert_allclose(average.averages[0].numpy(), [10, -10], rtol=1e-6)
    assert int(average.updates.numpy()) == 201


def test_the_average_is_swapped_in_for_a_block_and_out_after_it():
    weights = [tf.Variable([1.0, 2.0])]
    average = WeightAverage(weights, decay=0.5)
    weights[0].assign([5.0, 6.0])
    with pytest.raises(RuntimeError), average.swapped_into(weights):
        np.testing.assert_array_equal(weights[0].numpy(), [1, 2])
        raise RuntimeError("even when the block fails")
    np.testing.assert_array_equal(weights[0].numpy(), [5, 6])


def _validation_of(model, config):
    data = load_training_data(config)
    return make_evaluator(model, *validation_windows(data.valid_ids.astype(np.int32),
                                                     config.len_per_section))()


def test_validation_and_the_loaded_model_use_the_average(tmp_path):
    config = tiny(tmp_path, ema_decay=0.9, max_steps=10)
    history = train(config, progress=False, verbose=False)
    run = load_run(config.run_dir)
    # What the run validated is what the loaded model computes: the average's figure.
    assert _validation_of(run.model, config) == pytest.approx(history[-1]["valid_bpc"],
                                                              abs=1e-6)
    reader = tf.train.load_checkpoint(str(config.run_dir / "checkpoints"))
    names = [n for n in reader.get_variable_to_shape_map() if n.startswith("weight_average")]
    assert len(names) == len(run.model.trainable_variables) + 1  # the averages and the count
    # The weights themselves, restored without the average, score otherwise.
    own = load_run(config.run_dir).model
    tf.train.Checkpoint(model=own).read(tf.train.latest_checkpoint(
        str(config.run_dir / "checkpoints"))).expect_partial()
    assert _validation_of(own, config) != pytest.approx(history[-1]["valid_bpc"], abs=1e-4)
    # Without ema_decay, the same seed trains the same weights: only the validation differs.
    plain = train(tiny(tmp_path, "plain", max_steps=10), progress=False, verbose=False)
    assert [r["train_bpc"] for r in plain] == [r["train_bpc"] for r in history]
    assert plain[-1]["valid_bpc"] != history[-1]["valid_bpc"]


def test_an_averaged_run_resumes_exactly(tmp_path):
    straight = train(tiny(tmp_path, "straight", ema_decay=0.8, max_steps=10), progress=False,
                     verbose=False)
    halves = tiny(tmp_path, "halves", ema_decay=0.8, max_steps=5)
    train(halves, progress=False, verbose=False)
    halves.max_steps = 10
    assert without_timings(train(halves, progress=False, verbose=False)) == \
        without_timings(straight)


def test_the_weights_themselves_are_checked_before_a_save(tmp_path, monkeypatch):
    """A log validates the average; the checkpoint holds the weights themselves, so they are
    validated too before a save. Here the average stays at the starting weights (its update
    does nothing) while a rate of 1e30 throws the weights far: finite, far above guessing."""
    monkeypatch.setattr(WeightAverage, "update", lambda self, variables: None)
    with pytest.raises(TrainingDiverged, match=r"training diverged at step 1: the validation "
                                               r"loss .* no checkpoint was saved"):
        train(tiny(tmp_path, ema_decay=0.9, max_steps=5, log_every=1, save_every=1,
                   learning_rate=1e30, lr_schedule="constant"), progress=False, verbose=False)
    assert not (tmp_path / "run").exists()


def test_ema_decay_is_checked_and_fixed_on_resume(tmp_path):
    for bad in (1.0, -0.1, "0.9"):
        with pytest.raises(ValueError, match="ema_decay"):
            TrainConfig(ema_decay=bad).validate()
    train(tiny(tmp_path, max_steps=5), progress=False, verbose=False)
    with pytest.raises(ValueError, match="ema_decay"):
        train(tiny(tmp_path, max_steps=10, ema_decay=0.9), progress=False, verbose=False)


@pytest.mark.parametrize("overrides, name", [({"ema_decay": 0.9}, "ema_decay"),
                                             ({"carry_state": True}, "carry_state"),
                                             ({"time_budget": 1.0}, "time_budget")])
def test_what_one_device_does_is_refused_with_several_replicas(tmp_path, overrides, name):
    several = types.SimpleNamespace(num_replicas_in_sync=2)
    with pytest.raises(ValueError, match=f"{name}.*2 replicas"):
        train(tiny(tmp_path, **overrides), strategy=several, progress=False, verbose=False)
    assert not (tmp_path / "run").exists()
