# %% [markdown]
# # 03 · The four-gate LSTM
#
# The model at the heart of this tutorial is a long short-term memory (LSTM) layer written out
# by hand, `helpers.model.FourGateLSTM`. In this notebook you will read its equations and its
# code, set the original tutorial's gates beside it (and see what its initial weights do),
# follow the shapes through one step, see why the candidate memory must use `tanh` (the
# original used a sigmoid), check numerically that our layer computes exactly what
# `keras.layers.LSTM` computes, and count the model's parameters.

# %% [markdown]
# ## The equations
#
# At every time step the layer reads the input $x_t$ and its own previous output $h_{t-1}$ and
# memory (cell state) $c_{t-1}$. Four **gates** are computed from them:
#
# $$
# \begin{aligned}
# i_t &= \sigma(x_t W_i + h_{t-1} U_i + b_i) && \text{input gate: how much new memory to write}\\
# f_t &= \sigma(x_t W_f + h_{t-1} U_f + b_f) && \text{forget gate: how much old memory to keep}\\
# g_t &= \tanh(x_t W_c + h_{t-1} U_c + b_c) && \text{candidate memory: what to write}\\
# o_t &= \sigma(x_t W_o + h_{t-1} U_o + b_o) && \text{output gate: how much memory to show}\\[4pt]
# c_t &= f_t \odot c_{t-1} + i_t \odot g_t\\
# h_t &= o_t \odot \tanh(c_t)
# \end{aligned}
# $$
#
# $\sigma$ is the logistic sigmoid (values in $(0, 1)$), $\odot$ multiplies element by element.
# With $D$ inputs and $H$ hidden units, each $W$ is $D \times H$, each $U$ is $H \times H$ and
# each $b$ has $H$ entries. Instead of four small products the code does one big one: the four
# $W$ side by side form the **kernel** ($D \times 4H$), the four $U$ the **recurrent kernel**
# ($H \times 4H$), in the order $i, f, c, o$, which is exactly how Keras stores its LSTM weights.

# %%
import inspect
import textwrap

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Code

from helpers.backend import keras, tf
from helpers.model import CharLSTM, FourGateLSTM
from helpers.original import ORIGINAL, OriginalLSTM


def show_source(function):
    """The code as it is in helpers/model.py, syntax-highlighted: there is only one copy."""
    return Code(textwrap.dedent(inspect.getsource(function)), language="python")


# %% [markdown]
# ## The gates in code
#
# One time step, from `helpers/model.py`. `projected_x` is $x_t W + b$ for all four gates at
# once; the recurrent product is added, the result split into the four gates:

# %%
show_source(FourGateLSTM.step)

# %% [markdown]
# The input part $x_t W + b$ does not depend on the previous step, so it is computed for all
# time steps in one product before the loop. With integer ids as input it is not even a
# product: a one-hot vector times the kernel is one row of the kernel, so `tf.gather` looks the
# rows up.

# %%
show_source(FourGateLSTM.project_inputs)

# %% [markdown]
# `call` runs the steps over time, starting from zero memory unless a state is passed in:

# %%
show_source(FourGateLSTM.call)

# %% [markdown]
# ## The original's gates, side by side
#
# The original tutorial wrote the four gates out one by one: for each gate one matrix for the
# input, one for the previous output, and a bias. That is eight matrices and four biases,
# and eight matrix products per step. `helpers.original.OriginalLSTM` is our TF2 port of its
# graph, computed the way it computed it (one-hot input, real products). One step:

# %%
show_source(OriginalLSTM.step)

# %% [markdown]
# Two things differ from our layer. The layout: eight matrices where we keep two, the four
# gates' matrices side by side. That changes speed, not results. And one line: the original
# squashes the candidate memory `g` with a **sigmoid**, where an LSTM uses `tanh`. The port
# takes `candidate="tanh"` to change only that line. With it, copy the port's matrices side by
# side (in Keras's gate order i, f, c, o) into a `FourGateLSTM`, and the two layers compute the
# same outputs:

# %%
GATE_ORDER = ("input", "forget", "candidate", "output")  # i, f, c, o: Keras's order, and ours
port = OriginalLSTM(vocab_size=260, hidden_nodes=8, candidate="tanh", seed=0)
print(f"the port: {len(port.from_input) + len(port.from_output)} matrices, "
      f"{len(port.biases)} biases, then the output layer")

fused = FourGateLSTM(8, return_sequences=True, input_dim=260)
fused(tf.zeros([1, 1], tf.int32))  # the first call creates the weights
fused.kernel.assign(tf.concat([port.from_input[g] for g in GATE_ORDER], axis=1))
fused.recurrent_kernel.assign(tf.concat([port.from_output[g] for g in GATE_ORDER], axis=1))
fused.bias.assign(tf.concat([port.biases[g][0] for g in GATE_ORDER], axis=0))

some_ids = tf.constant([[5, 70, 2, 64, 81], [40, 2, 2, 90, 1]])
h, c = port.initial_state(2)
port_outputs = []
for t in range(some_ids.shape[1]):
    h, c = port.step(tf.one_hot(some_ids[:, t], 260), h, c)
    port_outputs.append(h)
gap = float(tf.reduce_max(tf.abs(tf.stack(port_outputs, axis=1) - fused(some_ids))))
print("port (tanh candidate) vs FourGateLSTM, max |difference| < 1e-5:", gap < 1e-5)
assert gap < 1e-5

# %% [markdown]
# ### Its initial weights
#
# Every matrix of the original starts from a truncated normal distribution with **mean -0.1**
# and standard deviation 0.1 (values beyond two standard deviations are drawn again); the biases
# start at zero. Common initialisations (ours included) are centred on zero; this one is not.
# The port at the original's size, 1,024 units (its input matrices had 174 rows, one per
# character of its vocabulary; ours have 260):

# %%
from helpers.data import load_split
from helpers.encoding import Vocabulary

text = load_split("test")
vocab = Vocabulary.from_text(text)  # ours: 259 characters + the unknown id = 260 ids
original_port = OriginalLSTM(vocab_size=len(vocab), hidden_nodes=ORIGINAL.hidden_nodes, seed=0)
print(f"init: truncated normal, mean {ORIGINAL.init_mean}, stddev {ORIGINAL.init_stddev}")
print(f"{'gate':<11}{'from input':<14}{'from output':<15}bias")
for gate in original_port.from_input:
    print(f"{gate:<11}{str(tuple(original_port.from_input[gate].shape)):<14}"
          f"{str(tuple(original_port.from_output[gate].shape)):<15}"
          f"{tuple(original_port.biases[gate].shape)}")
weights = np.concatenate([w.numpy().ravel() for group in (original_port.from_input,
                                                           original_port.from_output)
                          for w in group.values()])
print(f"the eight matrices, {weights.size:,} weights: mean {weights.mean():+.3f},"
      f" std {weights.std():.3f}, range [{weights.min():+.3f}, {weights.max():+.3f}],"
      f" {np.mean(weights < 0):.0%} negative")
assert abs(weights.mean() - ORIGINAL.init_mean) < 0.005 and weights.max() <= 0.1 + 1e-6

# %% [markdown]
# Why it matters: the recurrent product $h_{t-1} U$ adds up 1,024 terms, with weights that
# average -0.1. Once the outputs $h$ are positive, every gate's pre-activation is pushed far
# below zero and every gate closes; with $h$ back at zero, they open again. Fed the first
# characters of `wiki.test.raw`, the port at its initial weights opens and closes its gates on
# alternate steps, and its memory is wiped every second character. (The means are float32 sums
# of 1,024 terms, whose last digit can differ between CPUs, so this output is not compared;
# the assertion checks the pattern.)

# %%
# NBVAL_IGNORE_OUTPUT
first = text[:ORIGINAL.len_per_section]  # the first section the original trained on
first_ids = vocab.encode(first)

h, c = original_port.initial_state(1)
print(" t  char   mean i   mean f   mean o   mean c")
for t in range(8):
    h, c, gates = original_port.step(tf.one_hot(first_ids[t:t + 1], len(vocab)), h, c,
                                     return_gates=True)
    means = [float(tf.reduce_mean(gates[g])) for g in ("input", "forget", "output")]
    print(f"{t:>2}  {first[t]!r:>5}  " + "  ".join(f"{m:7.3f}" for m in means)
          + f"  {float(tf.reduce_mean(c)):7.3f}")
    assert (means[0] > 0.4) if t % 2 == 0 else (means[0] < 0.01)

# %% [markdown]
# ## Shapes, step by step
#
# A small layer with $H = 8$ units reading ids from our 260-id vocabulary, on a batch of 2
# sequences of 5 characters:

# %%
keras.utils.set_random_seed(0)
batch, time_steps, vocab_size, units = 2, 5, 260, 8
ids = tf.random.uniform([batch, time_steps], 0, vocab_size, dtype=tf.int32)
layer = FourGateLSTM(units, return_sequences=True, return_state=True, input_dim=vocab_size)
sequence, h_last, c_last = layer(ids)

print("ids                 ", ids.shape, "(batch, time)")
print("kernel W            ", layer.kernel.shape, "(vocabulary, 4H)")
print("recurrent kernel U  ", layer.recurrent_kernel.shape, "(H, 4H)")
print("bias b              ", layer.bias.shape, "(4H,)")
projected = layer.project_inputs(ids)
print("projected inputs    ", projected.shape, "(batch, time, 4H): x_t W + b for every step")
h, c = layer.get_initial_state(batch)
print("h, c at the start   ", h.shape, c.shape, "(batch, H), zeros")
z = projected[:, 0] + tf.matmul(h, layer.recurrent_kernel)
print("z at t = 0          ", z.shape, "(batch, 4H)")
print("split into i, f, g, o", [tuple(part.shape) for part in tf.split(z, 4, axis=-1)])
print("output sequence     ", sequence.shape, "(batch, time, H); last h and c:",
      h_last.shape, c_last.shape)

# %% [markdown]
# ## The backward pass, written out
#
# Training needs the gradient of the loss with respect to every weight. TensorFlow could derive
# it from `step` by itself, and would be right, but on a CPU its version is slow: it multiplies
# by the transposed recurrent kernel through a slow path of the matrix product, and builds the
# kernel's gradient from one thin product per time step. So `_unrolled` runs `step` forward and
# supplies the backward pass by hand: the chain rule through `step`'s lines, from the last time
# step to the first, then one large product for $U$'s gradient. It makes training 1.45x as
# fast as `keras.layers.LSTM` at 512 units, batch 64 and sequences of 100 (the size
# `benchmarks/bench.py` measures; this notebook's model has 256 units). You can skip this code;
# the check after it is what matters.

# %%
show_source(FourGateLSTM._unrolled)


# %% [markdown]
# A hand-written gradient must be checked. Here it is compared with the gradient TensorFlow
# derives from a plain loop over `step`, on the small layer above:

# %%
def plain_loop(layer, ids):
    projected = layer.project_inputs(ids)
    h, c = layer.get_initial_state(ids.shape[0])
    outputs = []
    for t in range(ids.shape[1]):
        h, c = layer.step(projected[:, t], h, c)
        outputs.append(h)
    return tf.stack(outputs, axis=1)


weights_of_outputs = tf.random.normal(sequence.shape)  # any loss that uses every output
gradients = {}
for name, forward in (("by hand", lambda: layer(ids)[0]),
                      ("TensorFlow", lambda: plain_loop(layer, ids))):
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(forward() * weights_of_outputs)
    gradients[name] = tape.gradient(loss, layer.trainable_variables)
for variable, ours, reference in zip(layer.trainable_variables, gradients["by hand"],
                                     gradients["TensorFlow"], strict=True):
    ours, reference = tf.convert_to_tensor(ours), tf.convert_to_tensor(reference)
    largest = float(tf.reduce_max(tf.abs(ours - reference)))
    assert largest < 1e-5, (variable.name, largest)
    print(f"{variable.name:17} gradient: hand-written and TensorFlow's agree to 1e-5")

# %% [markdown]
# The bias starts at zero except for the forget gate, which starts at 1 (Jozefowicz et al.,
# 2015): $\sigma(1) \approx 0.73$, so a fresh layer keeps most of its memory by default.

# %%
print(layer.bias.numpy().reshape(4, units))

# %% [markdown]
# Running `step` by hand over the five time steps gives the layer's output exactly:

# %%
h, c = layer.get_initial_state(batch)
by_hand = []
for t in range(time_steps):
    h, c = layer.step(projected[:, t], h, c)
    by_hand.append(h)
by_hand = tf.stack(by_hand, axis=1)
print("same as the layer:", bool(tf.reduce_all(by_hand == sequence)))

# %% [markdown]
# ## Why the candidate memory uses tanh
#
# The original tutorial squashed the candidate memory $g_t$ with a **sigmoid** instead of
# $\tanh$. A sigmoid is always positive, so $i_t \odot g_t > 0$: every step can only *add* to
# the memory. With the forget gate open ($f_t = 1$) the cell state can never go down; with
# $f_t < 1$ it can only decay towards zero, never become negative, and then $h_t = o_t \odot
# \tanh(c_t)$ is never negative either: half of every unit's range is lost. $\tanh$ lies in
# $(-1, 1)$, so the layer can write and erase in both directions.
#
# The port shows it on the first section of `wiki.test.raw`: the same initial weights (same
# seed), once with the original's sigmoid candidate and once with `tanh`. What a step writes
# into the memory is $i_t \odot g_t$:

# %%
twins = {candidate: OriginalLSTM(vocab_size=len(vocab), hidden_nodes=ORIGINAL.hidden_nodes,
                                 candidate=candidate, seed=0)
         for candidate in ("sigmoid", "tanh")}
section = tf.one_hot(first_ids, len(vocab))
lines = []
for candidate, model in twins.items():
    h, c = model.initial_state(1)
    writes, memories, outputs = [], [], []
    for t in range(len(first_ids)):
        h, c, gates = model.step(section[t:t + 1], h, c, return_gates=True)
        writes.append(gates["input"] * gates["candidate"])
        memories.append(c)
        outputs.append(h)
    writes, memories, outputs = (tf.concat(x, axis=0).numpy()
                                 for x in (writes, memories, outputs))
    lines.append(f"{candidate:>7} candidate: {np.mean(writes < 0):5.1%} of the writes negative;"
                 f" memory ever below zero: {bool(memories.min() < 0)};"
                 f" output ever below zero: {bool(outputs.min() < 0)}")
    if candidate == "sigmoid":
        assert writes.min() >= 0 and memories.min() >= 0 and outputs.min() >= 0
    else:
        assert writes.min() < 0 and memories.min() < 0
print("\n".join(lines))

# %% [markdown]
# With a sigmoid candidate no write is ever negative: a unit can add to its memory, and only
# the forget gate can take memory away. A small simulation of one memory cell with random gate
# inputs (seeded) and the forget gate held open, $f_t = 1$, shows where that leads: the memory
# only grows.

# %%
rng = np.random.default_rng(0)
steps = 200
z_i, z_g = rng.normal(size=(2, steps))


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


i = sigmoid(z_i)
c_sigmoid = np.cumsum(i * sigmoid(z_g))  # c_t = 1 * c_{t-1} + i_t * g_t, from c_0 = 0
c_tanh = np.cumsum(i * np.tanh(z_g))
falls_sigmoid = int((np.diff(c_sigmoid) < 0).sum())
falls_tanh = int((np.diff(c_tanh) < 0).sum())
print(f"sigmoid candidate: c fell in {falls_sigmoid} of {steps - 1} steps")
print(f"tanh candidate:    c fell in some steps: {falls_tanh > 0}")
assert falls_sigmoid == 0 and falls_tanh > 0

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2), dpi=90)
z = np.linspace(-5, 5, 201)
left.plot(z, sigmoid(z), label="sigmoid (original)")
left.plot(z, np.tanh(z), label="tanh (LSTM)")
left.axhline(0, color="grey", lw=0.5)
left.set_title("Candidate memory g: the range of each squashing")
left.set_xlabel("pre-activation z")
left.set_ylabel("g(z)")
left.legend()
right.plot(c_sigmoid, label="sigmoid candidate: only grows")
right.plot(c_tanh, label="tanh candidate: up and down")
right.set_title("Cell state with the forget gate open (f = 1)")
right.set_xlabel("time step t")
right.set_ylabel("cell state c_t")
right.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# With a realistic forget gate ($f_t = \sigma(\cdot) < 1$), the sigmoid variant still cannot go
# below zero:

# %%
z_f, z_o = rng.normal(size=(2, steps))
f, o = sigmoid(z_f), sigmoid(z_o)
cell_sigmoid = cell_tanh = 0.0
lowest_h_sigmoid = lowest_h_tanh = np.inf
for t in range(steps):
    cell_sigmoid = f[t] * cell_sigmoid + i[t] * sigmoid(z_g[t])
    cell_tanh = f[t] * cell_tanh + i[t] * np.tanh(z_g[t])
    lowest_h_sigmoid = min(lowest_h_sigmoid, o[t] * np.tanh(cell_sigmoid))
    lowest_h_tanh = min(lowest_h_tanh, o[t] * np.tanh(cell_tanh))
print("sigmoid candidate: h ever negative:", bool(lowest_h_sigmoid < 0))
print("tanh candidate:    h ever negative:", bool(lowest_h_tanh < 0))

# %% [markdown]
# ## Checking against `keras.layers.LSTM`
#
# Our layer stores its weights like Keras's LSTM (kernel, recurrent kernel, bias; gates in the
# order i, f, c, o). So we can build both layers, copy our weights into the Keras layer and
# compare the outputs on the same random input. If a gate were wrong (a sigmoid instead of
# tanh, a swapped gate order), the outputs would differ by far more than float32 rounding.

# %%
keras.utils.set_random_seed(42)
batch, time_steps, features, units = 4, 30, 16, 32
x = tf.random.normal([batch, time_steps, features])

ours = FourGateLSTM(units, return_sequences=True, return_state=True)
theirs = keras.layers.LSTM(units, return_sequences=True, return_state=True)
ours(x)  # the first call creates the weights
theirs(x)
theirs.set_weights(ours.get_weights())
print("ours:  ", [w.shape for w in ours.get_weights()])
print("keras: ", [w.shape for w in theirs.get_weights()])

differences = {}
for name, a, b in zip(["outputs", "last h", "last c"], ours(x), theirs(x), strict=True):
    differences[name] = float(tf.reduce_max(tf.abs(a - b)))
worst = max(differences.values())
print("max |difference| < 1e-5:", worst < 1e-5)
assert worst < 1e-5

# %% [markdown]
# The differences themselves are float32 rounding noise; their exact values depend on the CPU
# and on the math library TensorFlow uses on it, so this output is not compared:

# %%
# NBVAL_IGNORE_OUTPUT
for name, value in differences.items():
    print(f"{name:>8}: {value:.2e}")

# %% [markdown]
# The same check for the path the character model uses: ids looked up in our layer, against
# explicit one-hot vectors fed to the Keras layer.

# %%
keras.utils.set_random_seed(7)
ids = tf.random.uniform([4, 30], 0, 260, dtype=tf.int32)
ours_ids = FourGateLSTM(units, return_sequences=True, input_dim=260)
theirs_onehot = keras.layers.LSTM(units, return_sequences=True)
ours_ids(ids)  # create the weights
theirs_onehot(tf.one_hot(ids, 260))
theirs_onehot.set_weights(ours_ids.get_weights())
gap = float(tf.reduce_max(tf.abs(ours_ids(ids) - theirs_onehot(tf.one_hot(ids, 260)))))
print("ids vs one-hot, max |difference| < 1e-5:", gap < 1e-5)
assert gap < 1e-5

# %% [markdown]
# ## Counting parameters
#
# Per LSTM layer: the kernel ($D \cdot 4H$), the recurrent kernel ($H \cdot 4H$) and the bias
# ($4H$), that is $4(DH + H^2 + H)$. The character model adds a dense layer from the $H$ hidden
# units to one logit per vocabulary id. For the default sizes, vocabulary 260 (one-hot input,
# $D = 260$) and $H = 256$:

# %%
vocab_size, hidden = 260, 256
model = CharLSTM(vocab_size, hidden).build_for()
lstm_formula = 4 * (vocab_size * hidden + hidden * hidden + hidden)
dense_formula = hidden * vocab_size + vocab_size
print(f"LSTM:   4 x ({vocab_size} x {hidden} + {hidden} x {hidden} + {hidden})"
      f" = {lstm_formula:,}   count_params: {model.lstm_0.count_params():,}")
print(f"logits: {hidden} x {vocab_size} + {vocab_size}"
      f" = {dense_formula:,}   count_params: {model.logits.count_params():,}")
print(f"model:  {lstm_formula + dense_formula:,}   count_params: {model.count_params():,}")
assert model.count_params() == lstm_formula + dense_formula

# %% [markdown]
# The same model built on `keras.layers.LSTM` (`cell="keras"`) has exactly as many parameters,
# as it should:

# %%
keras_model = CharLSTM(vocab_size, hidden, cell="keras").build_for()
print(f"cell='keras': {keras_model.count_params():,} parameters")
assert keras_model.count_params() == model.count_params()

# %% [markdown]
# ## Summary
#
# - An LSTM step is four gates from one fused product `x W + h U + b`, split in four; the memory
#   is `c = f * c + i * g` and the output `h = o * tanh(c)`.
# - The original wrote the same gates as eight matrices and four biases; with a `tanh`
#   candidate its port computes exactly what `FourGateLSTM` computes. Its weights start from a
#   truncated normal of mean -0.1, so at 1,024 units its gates close on every second step.
# - The candidate memory `g` needs `tanh`: with the original's sigmoid nothing written is ever
#   negative, the memory can only grow (or decay towards zero) and the outputs are never
#   negative.
# - `FourGateLSTM` matches `keras.layers.LSTM` to float32 rounding with the same weights, both
#   for float inputs and for ids against one-hot vectors.
# - With vocabulary 260 and 256 hidden units the model has 596,228 parameters.
#
# Next, **04** trains it.
