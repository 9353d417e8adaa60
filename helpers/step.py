"""One training step, and the optimizer that takes it.

``train_step`` is the whole of learning: predict every next character of a batch, measure
the cross-entropy, follow its gradient a little. Everything else about training (the loop,
validation, checkpoints, several devices, the LSTM state carried between steps) wraps this one
function from outside (``helpers.training``).
"""

from __future__ import annotations

import contextlib
import math

from helpers.backend import keras, tf
from helpers.config import TrainConfig

LN2 = math.log(2.0)  # nats per bit: a loss in nats divided by LN2 is in bits


def train_step(model, optimizer, inputs, targets, clip_norm, states=None):
    """One step on one batch of ids: returns the mean loss in bits per character, and the
    LSTM state the batch ended with (for the next step to carry on from)."""
    with tf.GradientTape() as tape:
        logits, states = model(inputs, states=states, return_state=True, training=True)
        nats = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
        # The mean over the batch (on several devices: this device's share of the mean).
        loss = tf.nn.compute_average_loss(tf.reduce_mean(nats, axis=1))
    gradients = tape.gradient(loss, model.trainable_variables)
    gradients = clip_by_batch_norm(gradients, clip_norm)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
    return loss / LN2, states


def clip_by_batch_norm(gradients, clip_norm):
    """Scale ``gradients`` down so that the whole batch's gradient has at most norm
    ``clip_norm``: one rare steep step cannot throw the weights far.

    On several devices each holds the gradient of its share of the batch, and the optimizer
    sums them afterwards; each share is scaled by the norm of that sum, so the result is what
    one device clipping the whole batch's gradient would apply.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return tf.clip_by_global_norm(gradients, clip_norm)[0]
    whole = context.all_reduce(tf.distribute.ReduceOp.SUM, gradients)
    return tf.clip_by_global_norm(gradients, clip_norm, use_norm=tf.linalg.global_norm(whole))[0]


def learning_rate_schedule(config: TrainConfig):
    """Adam's step size: constant, or cosine-decayed over ``max_steps`` to ``lr_floor``'s share
    of it, after an optional linear warm-up over ``warmup_steps``.

    Large steps early get the loss down fast; small ones at the end settle into a minimum that
    the large ones keep jumping over. A warm-up keeps the first steps small while Adam's
    running averages of the gradient are still mostly the zeros they started from. The
    schedule reads the optimizer's own step counter, which the checkpoint restores, so a
    resumed run continues the same curve (resuming with another ``max_steps`` reshapes what is
    left of it).
    """
    rate, warmup = config.learning_rate, config.warmup_steps
    if config.lr_schedule == "constant" and not warmup:
        return rate
    # alpha: where the decay ends, as a share of the rate (1: no decay, a constant rate).
    alpha = 1.0 if config.lr_schedule == "constant" else config.lr_floor
    if not warmup:
        return keras.optimizers.schedules.CosineDecay(rate, config.max_steps, alpha=alpha)
    return keras.optimizers.schedules.CosineDecay(0.0, config.max_steps - warmup, alpha=alpha,
                                                  warmup_target=rate, warmup_steps=warmup)


def build_optimizer(config: TrainConfig):
    """Adam, or AdamW when ``weight_decay`` is set: the decay pulls every weight matrix a
    little towards zero at each step, apart from the gradient (biases are left alone).

    Adam divides each weight's step by the root of its running average of squared gradients.
    With ``adam_beta2`` at Keras's 0.999 that average spans about the last thousand steps,
    with 0.95 about the last twenty: in a short run, whose gradients shrink fast, a short
    average keeps the steps in scale with the gradients of now."""
    rate = learning_rate_schedule(config)
    if not config.weight_decay:
        return keras.optimizers.Adam(rate, beta_2=config.adam_beta2)
    optimizer = keras.optimizers.AdamW(rate, weight_decay=config.weight_decay,
                                       beta_2=config.adam_beta2)
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    return optimizer


class WeightAverage(tf.Module):
    """An exponential moving average of the weights (Polyak averaging), for validation and
    sampling; training goes on from the weights themselves.

    The last steps of a run jump around a minimum as much as they descend into it; the average
    of where they have been lies closer to it than any one of them. ``decay`` is the share of
    the average kept at each step (0.999: about the last thousand steps count). Early on, the
    decay is held lower, ``(1 + n) / (10 + n)`` after n updates, so that the average does not
    keep the random weights training started from.
    """

    def __init__(self, variables, decay: float):
        super().__init__(name="weight_average")
        self.decay = decay
        self.averages = [tf.Variable(v, trainable=False, name=v.name.split(":")[0] + "_average")
                         for v in variables]
        self.updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="updates")

    def update(self, variables) -> None:
        """Move each average a step towards its variable's value now (after a training step)."""
        self.updates.assign_add(1)
        n = tf.cast(self.updates, tf.float32)
        decay = tf.minimum(self.decay, (1.0 + n) / (10.0 + n))
        for average, variable in zip(self.averages, variables, strict=True):
            average.assign_sub((1.0 - decay) * (average - variable))

    def copy_into(self, variables) -> None:
        """Overwrite ``variables`` with their averages (``load_run`` does, for sampling)."""
        for variable, average in zip(variables, self.averages, strict=True):
            variable.assign(average)

    @contextlib.contextmanager
    def swapped_into(self, variables):
        """The averages in ``variables`` for the ``with`` block, their own values after it."""
        own = [tf.identity(v) for v in variables]  # copies of their values
        self.copy_into(variables)
        try:
            yield
        finally:
            for variable, value in zip(variables, own, strict=True):
                variable.assign(value)
