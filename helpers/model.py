"""The four-gate LSTM, written out, and the character model built on it.

One step of an LSTM, for input x_t and the previous output h and memory c::

    i = sigmoid(x_t W_i + h U_i + b_i)      input gate: how much new memory to write
    f = sigmoid(x_t W_f + h U_f + b_f)      forget gate: how much old memory to keep
    g = tanh   (x_t W_c + h U_c + b_c)      candidate memory (tanh: it can add AND subtract)
    o = sigmoid(x_t W_o + h U_o + b_o)      output gate: how much memory to show
    c = f * c + i * g
    h = o * tanh(c)

The original tutorial squashed the candidate memory with a sigmoid, so what a step writes
is always positive: only the forget gate could ever take memory away, never a write.
The weights are stored like Keras's ``LSTMCell`` (``kernel (input_dim, 4H)``,
``recurrent_kernel (H, 4H)``, ``bias (4H)``, gates in the order i, f, c, o), so
``keras.layers.LSTM`` loaded with our weights computes the same numbers.
"""

from __future__ import annotations

from helpers.backend import keras, tf
from helpers.checks import check_int, check_number
from helpers.config import CELLS, TrainConfig

# Sequences up to this length are unrolled into straight-line code with the hand-written
# backward pass (fast per step); longer ones run as a tf.while_loop, whose graph does not grow
# with the length. An unrolled graph costs time and memory per time step to build, which grows
# past what a laptop has at a few thousand steps, while the loop's start does not grow; the
# loop trains more slowly per character.
UNROLL_LIMIT = 500


@keras.saving.register_keras_serializable(package="helpers")
class FourGateLSTM(keras.layers.Layer):
    """An LSTM layer from scratch, with the arguments and return values of ``keras.layers.LSTM``.

    Inputs are float vectors ``[batch, time, input_dim]`` or, with ``input_dim`` given, integer
    ids ``[batch, time]`` standing for one-hot vectors of that size: multiplying a one-hot
    vector by the kernel selects a row, so the input projection becomes a row lookup.

    ``matmul_dtype="bfloat16"`` multiplies by the recurrent kernel in bfloat16 while training
    (forward and backward), everything else staying float32: the weights, the gates and the
    memory. A CPU with bfloat16 matrix units (AVX512-BF16, AMX) multiplies faster so
    (``benchmarks/step_speed.py`` measures by how much); one without them emulates it, slower
    than float32. Outside training (validation, sampling, looking inside) the products are
    float32: every way of reading a trained model then agrees to the last bit, compiled by XLA
    or not, on any CPU.
    """

    def __init__(self, units, return_sequences=False, return_state=False, input_dim=None,
                 recurrent_dropout=0.0, matmul_dtype="float32", **kwargs):
        super().__init__(**kwargs)
        check_int("units", units)
        check_number("recurrent_dropout", recurrent_dropout, 0, 1, high_open=True,
                     must="lie in [0, 1)")
        _check_matmul_dtype(matmul_dtype)
        self.units = units
        self.recurrent_dropout = recurrent_dropout
        self.matmul_dtype = matmul_dtype
        # Its own random stream, seeded from Keras's global seed, as keras.layers.Dropout's.
        self.seed_generator = keras.random.SeedGenerator() if recurrent_dropout else None
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.input_dim = input_dim

    def build(self, input_shape):
        input_dim = self.input_dim if self.input_dim is not None else input_shape[-1]
        if input_dim is None:
            raise ValueError("FourGateLSTM needs a known input size (or input_dim for ids)")
        self.input_dim = int(input_dim)
        four_h = 4 * self.units
        # Keras's initialisers, so both layers start from the same distribution.
        self.kernel = self.add_weight(
            name="kernel", shape=(self.input_dim, four_h), initializer="glorot_uniform")
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel", shape=(self.units, four_h), initializer="orthogonal")
        # Forget-gate bias starts at 1 (Jozefowicz et al., 2015): remember by default.
        self.bias = self.add_weight(name="bias", shape=(four_h,), initializer=_unit_forget_bias)

    def get_initial_state(self, batch_size):
        zeros = tf.zeros([batch_size, self.units], dtype=self.compute_dtype)
        return [zeros, zeros]

    def project_inputs(self, inputs):
        """``x_t W + b`` for every time step at once: one big product instead of T small ones."""
        if inputs.dtype.is_integer:
            return tf.gather(self.kernel, inputs) + self.bias
        return tf.einsum("btd,dk->btk", inputs, self.kernel) + self.bias

    def step(self, projected_x, h, c, return_gates=False, recurrent_kernel=None):
        """One time step: the four gates from one fused product, then split.

        ``return_gates=True`` also returns the gates ``(i, f, g, o)``, to look inside the
        layer (``helpers.inspect_lstm``) with this same code. ``recurrent_kernel``: the one to
        use instead of the layer's own (in training, with some of its weights dropped, and
        in bfloat16 with ``matmul_dtype="bfloat16"``).
        """
        if recurrent_kernel is None:
            recurrent_kernel = self.recurrent_kernel
        # The product in the kernel's dtype, the sum in float32 (a cast to the dtype a tensor
        # already has does nothing).
        product = tf.matmul(tf.cast(h, recurrent_kernel.dtype), recurrent_kernel)
        z = projected_x + tf.cast(product, projected_x.dtype)
        z_i, z_f, z_c, z_o = tf.split(z, 4, axis=-1)
        i = tf.sigmoid(z_i)
        f = tf.sigmoid(z_f)
        g = tf.tanh(z_c)
        o = tf.sigmoid(z_o)
        c = f * c + i * g
        h = o * tf.tanh(c)
        if return_gates:
            return h, c, (i, f, g, o)
        return h, c

    def call(self, inputs, initial_state=None, training=None):
        projected = self.project_inputs(inputs)
        if initial_state is None:
            h, c = self.get_initial_state(tf.shape(projected)[0])
        else:
            h, c = initial_state
        recurrent_kernel = tf.convert_to_tensor(self.recurrent_kernel)
        if training and self.recurrent_dropout:
            # DropConnect on the recurrent weights (Wan et al., 2013; Merity et al., 2017's
            # weight-dropped LSTM): one mask for the whole sequence, so every time step of
            # a batch reads the same thinned kernel; the memory path c itself is untouched.
            recurrent_kernel = keras.random.dropout(recurrent_kernel, self.recurrent_dropout,
                                                    seed=self.seed_generator)
        # bfloat16 products are for the speed of training; a trained model is read in float32.
        products_dtype = self.matmul_dtype if training else "float32"
        if projected.shape[1] is not None and projected.shape[1] <= UNROLL_LIMIT:
            # A static length unrolls into straight-line code: no loop bookkeeping per step.
            sequence, h, c = self._unrolled(projected, h, c,
                                            tf.cast(recurrent_kernel, products_dtype))
        else:
            sequence, h, c = self._while_loop(projected, h, c, recurrent_kernel, products_dtype)
        result = sequence if self.return_sequences else h
        return [result, h, c] if self.return_state else result

    def _unrolled(self, projected, h, c, recurrent_kernel):
        """``step`` over every time step, with a backward pass written out by hand.

        The forward pass is ``step`` itself. TensorFlow's own gradient of it would be right but
        slow on a CPU: it multiplies by the transposed recurrent kernel through a slow path of
        MatMul, and builds the kernel's gradient from T thin products added up. The backward
        pass below is the chain rule through the six lines of ``step``, one time step at a
        time from the last, then one big product for the recurrent kernel's gradient. Tests
        check it against TensorFlow's gradient of the plain loop.
        """
        return_sequences = self.return_sequences

        @tf.custom_gradient
        def unrolled(projected, h, c, recurrent_kernel):
            hs, cs, gates = [h], [c], []
            # One unstack instead of T slices projected[:, t].
            for x_t in tf.unstack(projected, axis=1):
                h, c, step_gates = self.step(x_t, h, c, return_gates=True,
                                             recurrent_kernel=recurrent_kernel)
                hs.append(h)
                cs.append(c)
                gates.append(step_gates)
            outputs = (tf.stack(hs[1:], axis=1), h, c) if return_sequences else (h, c)

            def backward(*d_outputs):
                d_sequence, d_h, d_c = d_outputs if return_sequences else (None, *d_outputs)
                units = recurrent_kernel.shape[0]
                u_transposed = _transpose_recurrent_kernel(recurrent_kernel)
                d_h_out = tf.unstack(d_sequence, axis=1) if return_sequences else None
                # Each step's d_z, and the same in the products' dtype (cast once, used twice)
                d_z, d_z_for_products = [None] * len(gates), [None] * len(gates)
                for t in reversed(range(len(gates))):
                    i, f, g, o = gates[t]
                    c_prev, c = cs[t], cs[t + 1]
                    if d_h_out is not None:
                        d_h += d_h_out[t]  # h_t is both an output and the next step's input
                    tanh_c = tf.tanh(c)
                    d_c += d_h * o * (1 - tanh_c * tanh_c)  # h = o * tanh(c)
                    # Through c = f * c_prev + i * g and h = o * tanh(c), then through each
                    # gate's squashing: sigmoid' = s (1 - s), tanh' = 1 - tanh^2.
                    d_z[t] = tf.concat([d_c * g * i * (1 - i),
                                        d_c * c_prev * f * (1 - f),
                                        d_c * i * (1 - g * g),
                                        d_h * tanh_c * o * (1 - o)], axis=-1)
                    d_z_for_products[t] = tf.cast(d_z[t], u_transposed.dtype)
                    # z = x_t W + b + h_prev U
                    d_h = tf.cast(tf.matmul(d_z_for_products[t], u_transposed), d_c.dtype)
                    d_c *= f
                d_z = tf.stack(d_z, axis=1)  # [batch, time, 4H]; z = projected + h_prev U
                # One product over all steps at once instead of T thin ones.
                h_prev = tf.reshape(tf.stack(hs[:-1], axis=1), [-1, units])
                # In the kernel's dtype, as its input was: tf.cast's own gradient takes it
                # back to the float32 weights.
                d_recurrent = tf.matmul(tf.cast(h_prev, recurrent_kernel.dtype),
                                        tf.reshape(tf.stack(d_z_for_products, axis=1),
                                                   [-1, 4 * units]),
                                        transpose_a=True)
                return d_z, d_h, d_c, d_recurrent

            return outputs, backward

        outputs = unrolled(projected, h, c, recurrent_kernel)
        return outputs if return_sequences else (None, *outputs)

    def _while_loop(self, projected, h, c, recurrent_kernel, products_dtype):
        steps = tf.shape(projected)[1]
        # Read through a TensorArray: the gradient of slicing a tensor, by_time[t], would be a
        # tensor of the whole sequence's size at every step (quadratic in the length).
        by_time = tf.TensorArray(projected.dtype, size=steps).unstack(
            tf.transpose(projected, [1, 0, 2]))
        outputs = tf.TensorArray(projected.dtype, size=steps)

        def body(t, h, c, outputs):
            # Cast at each step inside the loop: the kernel's gradient then adds up its time
            # steps in float32 (in bfloat16, small ones would round away).
            h, c = self.step(by_time.read(t), h, c,
                             recurrent_kernel=tf.cast(recurrent_kernel, products_dtype))
            return t + 1, h, c, outputs.write(t, h)

        _, h, c, outputs = tf.while_loop(lambda t, *_: t < steps, body, (0, h, c, outputs))
        sequence = tf.transpose(outputs.stack(), [1, 0, 2]) if self.return_sequences else None
        return sequence, h, c

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, return_sequences=self.return_sequences,
                      return_state=self.return_state, input_dim=self.input_dim,
                      recurrent_dropout=self.recurrent_dropout, matmul_dtype=self.matmul_dtype)
        return config


def _check_matmul_dtype(matmul_dtype) -> None:
    if matmul_dtype not in ("float32", "bfloat16"):  # "auto" is TrainConfig's to decide
        raise ValueError(f"matmul_dtype must be 'float32' or 'bfloat16', got {matmul_dtype!r}")


def _transpose_recurrent_kernel(kernel):
    """``kernel`` transposed, ``(4H, H)``, as a tensor of its own.

    ``matmul(a, kernel, transpose_b=True)`` is about 2.5x slower than ``matmul(a, kernel_t)``
    with the transpose made beforehand (TensorFlow 2.21's CPU kernels, at these shapes), and
    the graph optimizer (Grappler's arithmetic optimizer) turns a plain ``tf.transpose``
    back into that flag. A 3-D transpose, ``(H, 4, H) -> (4, H, H)``, gives the same numbers
    and is left alone.
    """
    units = kernel.shape[0]
    blocks = tf.reshape(kernel, [units, 4, units])
    return tf.reshape(tf.transpose(blocks, [1, 2, 0]), [4 * units, units])


def _unit_forget_bias(shape, dtype=None):
    units = shape[0] // 4
    return tf.concat([tf.zeros([units]), tf.ones([units]), tf.zeros([2 * units])], 0)


@keras.saving.register_keras_serializable(package="helpers")
class CharLSTM(keras.Model):
    """Character ids → one-hot (or a learned embedding) → LSTM layers → logits per character.

    ``cell="keras"`` swaps in ``keras.layers.LSTM`` (cuDNN on a GPU) for comparison.
    Calling with ``states`` (one ``[h, c]`` pair per layer) and ``return_state=True`` lets
    generation carry the memory forward one character at a time.
    """

    def __init__(self, vocab_size, hidden_nodes=256, num_layers=1, embedding_dim=None,
                 dropout=0.0, cell="four_gate", recurrent_dropout=0.0, matmul_dtype="float32",
                 **kwargs):
        super().__init__(**kwargs)
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        _check_matmul_dtype(matmul_dtype)
        if matmul_dtype != "float32" and cell != "four_gate":
            raise ValueError(f"matmul_dtype={matmul_dtype!r} needs cell='four_gate', got "
                             f"cell={cell!r}")
        for name, value in (("vocab_size", vocab_size), ("hidden_nodes", hidden_nodes),
                            ("num_layers", num_layers)):
            check_int(name, value)
        check_number("dropout", dropout, 0, 1, high_open=True, must="lie in [0, 1)")
        if recurrent_dropout and cell != "four_gate":
            raise ValueError("recurrent_dropout (dropped recurrent weights) needs "
                             f"cell='four_gate', got cell={cell!r}")
        self.recurrent_dropout = recurrent_dropout
        self.matmul_dtype = matmul_dtype
        self.vocab_size = vocab_size
        self.hidden_nodes = hidden_nodes
        self.num_layers = num_layers
        self.embedding_dim = embedding_dim
        self.dropout_rate = dropout
        self.cell = cell
        self.embedding = (keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")
                          if embedding_dim else None)
        self.lstm_layers = []
        for n in range(num_layers):
            if cell == "keras":
                layer = keras.layers.LSTM(hidden_nodes, return_sequences=True, return_state=True,
                                          name=f"lstm_{n}")
            else:
                # The first layer reads ids directly when there is no embedding (one-hot input).
                ids_in = n == 0 and not embedding_dim
                layer = FourGateLSTM(hidden_nodes, return_sequences=True, return_state=True,
                                     input_dim=vocab_size if ids_in else None,
                                     recurrent_dropout=recurrent_dropout,
                                     matmul_dtype=matmul_dtype, name=f"lstm_{n}")
            # An attribute per layer: TensorFlow checkpoints do not follow Keras's tracked lists.
            setattr(self, f"lstm_{n}", layer)
            self.lstm_layers.append(layer)
        self.dropout = keras.layers.Dropout(dropout) if dropout else None
        self.logits = keras.layers.Dense(vocab_size, name="logits")

    def first_layer_input(self, ids):
        """What the first LSTM layer reads: embeddings, one-hot vectors, or the ids themselves
        (our layer turns ids into a row lookup)."""
        if self.embedding is not None:
            return self.embedding(ids)
        if self.cell == "keras":
            return tf.one_hot(ids, self.vocab_size)
        return ids

    def call(self, ids, states=None, return_state=False, training=False):
        x = self.first_layer_input(ids)
        new_states = []
        for n, layer in enumerate(self.lstm_layers):
            x, h, c = layer(x, initial_state=None if states is None else states[n],
                            training=training)
            new_states.append([h, c])
            if self.dropout is not None:
                x = self.dropout(x, training=training)
        logits = self.logits(x)
        return (logits, new_states) if return_state else logits

    def build_for(self, batch_size=1, time_steps=1):
        """Create the weights by running one dummy batch (Keras builds lazily)."""
        self(tf.zeros([batch_size, time_steps], tf.int32))
        return self

    def get_config(self):
        return dict(vocab_size=self.vocab_size, hidden_nodes=self.hidden_nodes,
                    num_layers=self.num_layers, embedding_dim=self.embedding_dim,
                    dropout=self.dropout_rate, cell=self.cell,
                    recurrent_dropout=self.recurrent_dropout, matmul_dtype=self.matmul_dtype)


def lstm_training_flops(batch_size: int, len_per_section: int, hidden_nodes: int,
                        vocab_size: int, input_matmul: bool = False) -> int:
    """Floating-point operations of one training step of a one-layer CharLSTM.

    Counts the matrix products only (2 FLOPs per multiply-add); elementwise gate work is
    small beside them. Forward per time step: the recurrent product ``B x H x 4H``, the
    output layer ``B x H x V``, and with ``input_matmul`` (dense one-hot input, as the
    original did) also ``B x V x 4H``; our id input replaces that last one by a row lookup.
    The backward pass costs about twice the forward (a product for the inputs' gradient and
    one for the weights'), so a training step is 3 times the forward.
    """
    per_step = hidden_nodes * 4 * hidden_nodes + hidden_nodes * vocab_size
    if input_matmul:
        per_step += vocab_size * 4 * hidden_nodes
    forward = 2 * batch_size * len_per_section * per_step
    return 3 * forward


def build_model(config: TrainConfig, vocab_size: int) -> CharLSTM:
    """The model a ``TrainConfig`` describes, for a vocabulary of ``vocab_size`` ids."""
    return CharLSTM(vocab_size, config.hidden_nodes, num_layers=config.num_layers,
                    embedding_dim=config.embedding_dim, dropout=config.dropout,
                    cell=config.cell, recurrent_dropout=config.recurrent_dropout,
                    matmul_dtype=config.chosen_matmul_dtype)
