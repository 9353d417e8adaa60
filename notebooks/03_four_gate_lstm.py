# %% [markdown]
# # 03 · The four-gate LSTM
#
# The model at the heart of this tutorial is a long short-term memory (LSTM) layer written out
# by hand, `helpers.model.FourGateLSTM`. This notebook starts from the problem it solves: a
# plain recurrent network forgets, and it cannot even learn what it forgot, because its
# gradient through time shrinks with every step. You will measure that, see the LSTM's answer
# (a memory that is added to, not multiplied through), read its gates and their code, set the
# original tutorial's gates beside it, check the hand-written backward pass and compare the
# layer with `keras.layers.LSTM`.

# %% [markdown]
# ## The problem: a plain RNN's gradient fades with distance
#
# A plain recurrent network keeps one vector $h_t$ and rewrites all of it at every character:
#
# $$h_t = \tanh(x_t W + h_{t-1} U + b)$$
#
# The original tutorial says such a network looks one step back in time. It reads only
# $h_{t-1}$, but $h_{t-1}$ was computed from $h_{t-2}$, and so on: $h_t$ depends on every
# character before it (in the original's graph, every earlier one of its 174-character
# section, which starts from a zero state). What it can see is not the limit; what it can
# learn is.
#
# To learn that a character $k$ steps back matters, training needs the gradient of the loss
# with respect to $h_{t-k}$. By the chain rule it passes back through every step in between,
# and each step multiplies it by the same kind of matrix:
#
# $$\frac{\partial h_t}{\partial h_{t-1}} = \operatorname{diag}(1 - h_t^2)\, U
# \qquad\Longrightarrow\qquad
# \frac{\partial h_t}{\partial h_{t-k}} = \prod_{s=t-k+1}^{t} \operatorname{diag}(1 - h_s^2)\, U$$
#
# Once the units do useful work they are often near $\pm 1$, where $1 - h^2$ is near 0, and a
# product of many factors below one shrinks geometrically (Bengio, Simard and Frasconi, 1994;
# Hochreiter and Schmidhuber, 1997). Factors above one would make it explode instead, which
# is why training clips gradients; nothing as simple fixes the shrinking.
#
# Let us measure it, on the same text for both: a `tanh` RNN (`keras.layers.SimpleRNN`) and
# our LSTM, 64 units each, each with a dense layer to one logit per character, trained for 300
# steps on sections of `wiki.test.raw` (about 10 seconds for both on 2 shared CPU cores).
# For each distance $k$ we measure two gradient norms at the last of 60 steps, averaged over
# 64 sections:
#
# - **memory**: of a random direction of the last memory ($v \cdot h_T$ for the RNN, $v \cdot
#   c_T$ for the LSTM's cell state, $\lVert v \rVert = 1$) with respect to the memory $k$ steps
#   earlier: how much of a change back then still reaches step $T$;
# - **loss**: of the last step's loss (predicting the character after step $T$) with respect
#   to the same earlier memory: what training actually receives from that far back.

# %%
import inspect
import textwrap

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Code

from helpers.backend import keras, tf
from helpers.data import load_split
from helpers.encoding import Vocabulary
from helpers.model import CharLSTM, FourGateLSTM
from helpers.original import ORIGINAL, OriginalLSTM


def show_source(function):
    """The code as it is in helpers/model.py, syntax-highlighted: there is only one copy."""
    return Code(textwrap.dedent(inspect.getsource(function)), language="python")


text = load_split("test")
vocab = Vocabulary.from_text(text)  # ours: 259 characters + the unknown id = 260 ids
training_ids = vocab.encode(text[:300_000])
UNITS, SECTION, TRAIN_STEPS = 64, 60, 300


# %% [markdown]
# The two networks, the same batches for both (a seeded draw of sections), and a short
# training loop: Adam with gradients clipped, as notebook 04 trains the real model.

# %%
def make_network(kind, seed=0):
    """A tanh RNN or our LSTM of UNITS units, and a dense layer to one logit per id."""
    keras.utils.set_random_seed(seed)
    recurrent = (keras.layers.SimpleRNN(UNITS, return_sequences=True) if kind == "RNN"
                 else FourGateLSTM(UNITS, return_sequences=True))
    recurrent.build((None, None, len(vocab)))
    logits = keras.layers.Dense(len(vocab))
    logits.build((None, None, UNITS))
    return recurrent, logits


def sections(seed, batch):
    """``batch`` random sections of SECTION + 1 ids: the inputs and, shifted, the targets."""
    starts = np.random.default_rng(seed).integers(0, len(training_ids) - SECTION - 1, batch)
    return np.stack([training_ids[s:s + SECTION + 1] for s in starts])


def next_char_loss(logits, outputs, targets):
    predicted = logits(outputs)
    return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
        targets, predicted, from_logits=True))


def train_briefly(recurrent, logits, seed=0):
    optimizer = keras.optimizers.Adam(0.005, global_clipnorm=1.0)
    variables = recurrent.trainable_variables + logits.trainable_variables

    @tf.function
    def train_step(batch):
        with tf.GradientTape() as tape:
            outputs = recurrent(tf.one_hot(batch[:, :-1], len(vocab)))
            loss = next_char_loss(logits, outputs, batch[:, 1:])
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    for step in range(TRAIN_STEPS):
        loss = train_step(sections(seed * 10_000 + step, 32))
    return float(loss)


# %% [markdown]
# The measurement runs the network step by step (for the LSTM, its own `step`, shown
# below), keeps the memory before every step, and asks the tape for both gradients with
# respect to all of them at once:

# %%
def gradients_through_time(kind, recurrent, logits, batch):
    """Mean norms of d(v . memory_T) and d(loss_T) with respect to the memory k steps
    before the last step, for k = 1 .. SECTION (index k - 1)."""
    x = tf.one_hot(batch[:, :-1], len(vocab))
    v = tf.math.l2_normalize(tf.random.stateless_normal([len(batch), UNITS], [0, 1]), axis=-1)
    memories = []
    with tf.GradientTape(persistent=True) as tape:
        if kind == "RNN":
            cell = recurrent.cell
            h = memory = tf.zeros([len(batch), UNITS])
            for t in range(SECTION):
                tape.watch(memory)
                memories.append(memory)
                h = memory = tf.tanh(x[:, t] @ cell.kernel + h @ cell.recurrent_kernel
                                     + cell.bias)
        else:
            projected = recurrent.project_inputs(x)
            h, memory = recurrent.get_initial_state(len(batch))
            for t in range(SECTION):
                tape.watch(memory)
                memories.append(memory)
                h, memory = recurrent.step(projected[:, t], h, memory)
        carried = tf.reduce_sum(memory * v)
        loss = next_char_loss(logits, h, batch[:, -1])
    return {name: np.array([float(tf.reduce_mean(tf.norm(g, axis=-1)))
                            for g in tape.gradient(target, memories)[::-1]])
            for name, target in (("memory", carried), ("loss", loss))}


# %%
# NBVAL_IGNORE_OUTPUT
import time

measured = sections(seed=1, batch=64)  # not among the training batches' draws
norms, final_loss = {}, {}
started = time.perf_counter()
for kind in ("RNN", "LSTM"):
    recurrent, logits = make_network(kind)
    norms[kind, "untrained"] = gradients_through_time(kind, recurrent, logits, measured)
    final_loss[kind] = train_briefly(recurrent, logits)
    norms[kind, "trained"] = gradients_through_time(kind, recurrent, logits, measured)
print(f"both trained and measured in {time.perf_counter() - started:.0f} s; last training "
      f"loss (nats): RNN {final_loss['RNN']:.2f}, LSTM {final_loss['LSTM']:.2f}")
distances = np.arange(1, SECTION + 1)
print(f"\n{'':21}" + "".join(f"{'k = ' + str(k):>11}" for k in (1, 10, 25, 50)))
for (kind, stage), measure in norms.items():
    for name, values in measure.items():
        print(f"{kind:>4} {stage:<9} {name:<6}"
              + "".join(f"{values[k - 1]:11.1e}" for k in (1, 10, 25, 50)))

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), dpi=90, sharex=True)
for ax, name, title in zip(axes, ("memory", "loss"),
                           ("How much of the memory k steps back reaches step T",
                            "Gradient of the last step's loss, k steps back"), strict=True):
    for colour, kind in (("C3", "RNN"), ("C0", "LSTM")):
        for stage, style in (("untrained", ":"), ("trained", "-")):
            ax.semilogy(distances, norms[kind, stage][name], style, color=colour,
                        label=f"{'tanh RNN' if kind == 'RNN' else 'LSTM'}, {stage}")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("distance k in steps")
    ax.grid(alpha=0.3, which="major")
axes[0].set_ylabel("mean gradient norm (log scale)")
axes[0].legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# What must hold, checked on the numbers above: after training, the RNN's memory gradient
# falls by many orders of magnitude over 50 steps, the LSTM's by far less; the RNN's loss
# gradient from 50 steps back is a far smaller share of its gradient from one step back than
# the LSTM's is. Untrained, the picture is the other way round, which the next section
# explains.

# %%
def fall(kind, stage, name, k=50):
    """The gradient norm k steps back as a share of the norm one step back."""
    values = norms[kind, stage][name]
    return values[k - 1] / values[0]


checks = {
    "trained RNN: memory gradient falls by more than 10^6 over 50 steps":
        fall("RNN", "trained", "memory") < 1e-6,
    "trained LSTM: memory gradient keeps more than 1/20 over 50 steps":
        fall("LSTM", "trained", "memory") > 0.05,
    "trained: the LSTM's loss gradient falls 1,000 times less than the RNN's":
        fall("LSTM", "trained", "loss") > 1000 * fall("RNN", "trained", "loss"),
    "untrained: the RNN keeps more than the LSTM":
        fall("RNN", "untrained", "memory") > 10 * fall("LSTM", "untrained", "memory"),
}
for claim, holds in checks.items():
    print(f"{claim}: {holds}")
assert all(checks.values())

# %% [markdown]
# Read the solid lines first. After 300 steps of training, a change to the RNN's memory 50
# characters back has all but vanished by the end (right: so has the gradient that would
# teach it anything about that far back), while the LSTM's memory carries most of it across
# the whole section. Its loss gradient falls too, but far less: the model has learnt to use
# mostly the last few characters, and could learn more, since the path is there.
#
# The dotted lines are the same networks before training. Keras starts the RNN's $U$ as an
# orthogonal matrix (which preserves lengths) and its units near zero, where $1 - h^2 \approx
# 1$: a fresh RNN carries its gradient well. Training pushes its units towards $\pm 1$, and
# then the product collapses. The fresh LSTM loses its memory faster at first, because its
# forget gates (below) start near $\sigma(1) \approx 0.73$, and $0.73^{50} \approx 10^{-7}$;
# training opens some of them towards 1. That is the difference: the RNN cannot hold its
# factor at 1 and still compute with the same units, the LSTM can, with one gate per unit.
#
# ## The answer: a memory that is added to
#
# Hochreiter and Schmidhuber (1997) gave each unit a **memory cell** $c_t$ that is not
# rewritten but *added to*, with a self-connection of weight 1 (their "constant error
# carousel"). Along it the gradient is multiplied by 1 at every step, however many steps
# back. Gers, Schmidhuber and Cummins (2000) put a **forget gate** $f_t$ on that
# self-connection, so the cell can also let go:
#
# $$c_t = f_t \odot c_{t-1} + i_t \odot g_t
# \qquad\Longrightarrow\qquad
# \frac{\partial c_t}{\partial c_{t-1}}\bigg|_{\text{memory path}} = \operatorname{diag}(f_t)$$
#
# No weight matrix and no squashing on that path: a product of forget gates, which the
# network can hold near 1 for a unit that must remember (the flat solid line above), and
# close where a memory should end.
#
# ## Three gates and a candidate memory
#
# At every time step the layer reads the input $x_t$, its previous output $h_{t-1}$ and its
# memory $c_{t-1}$, and computes:
#
# $$
# \begin{aligned}
# i_t &= \sigma(x_t W_i + h_{t-1} U_i + b_i) && \text{input gate}\\
# f_t &= \sigma(x_t W_f + h_{t-1} U_f + b_f) && \text{forget gate}\\
# g_t &= \tanh(x_t W_c + h_{t-1} U_c + b_c) && \text{candidate memory}\\
# o_t &= \sigma(x_t W_o + h_{t-1} U_o + b_o) && \text{output gate}\\[4pt]
# c_t &= f_t \odot c_{t-1} + i_t \odot g_t\\
# h_t &= o_t \odot \tanh(c_t)
# \end{aligned}
# $$
#
# $\sigma$ is the logistic sigmoid (values in $(0, 1)$), $\odot$ multiplies element by element.
# Each gate is a dial per unit, set afresh at every character from what the layer reads:
#
# - the **forget gate** $f_t$ lets a unit keep its memory ($f \approx 1$: the gradient path
#   above) or clear it ($f \approx 0$), for example at the end of a quotation it was
#   following;
# - the **input gate** $i_t$ lets a unit ignore what it reads ($i \approx 0$), so that the
#   characters in between do not overwrite what it holds;
# - the **candidate memory** $g_t$ is *what* would be written, in $(-1, 1)$: it is not a gate
#   (nothing is let through or held back by it), and $g \approx -1$ is a full write of a
#   negative value;
# - the **output gate** $o_t$ lets a unit hold a memory without showing it: an open
#   parenthesis can be remembered without changing every prediction until it closes.
#
# So an LSTM has **three gates and a candidate memory**. The original tutorial counted four
# "gates" (input, forget, output, and the memory), and this repository's layer keeps the name
# `FourGateLSTM` for the four blocks its weight matrices hold.
#
# With $D$ inputs and $H$ hidden units, each $W$ is $D \times H$, each $U$ is $H \times H$ and
# each $b$ has $H$ entries. Instead of four small products the code does one big one: the four
# $W$ side by side form the **kernel** ($D \times 4H$), the four $U$ the **recurrent kernel**
# ($H \times 4H$), in the order $i, f, c, o$, which is exactly how Keras stores its LSTM weights.

# %% [markdown]
# ## The gates in code
#
# One time step, from `helpers/model.py`. `projected_x` is $x_t W + b$ for all four gates at
# once; the recurrent product is added, the result split into the four gates. The casts are
# there for speed alone: in training with `matmul_dtype="bfloat16"` (chosen by `"auto"` on a
# CPU that multiplies bfloat16 natively) `call` passes the recurrent kernel in bfloat16, so
# the product runs in bfloat16 and the sum stays float32; otherwise they do nothing.

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
# kernel's gradient from one thin product per time step. So `FourGateLSTM._unrolled` runs
# `step` forward and supplies the backward pass by hand, which makes training faster than
# `keras.layers.LSTM` at 512 units, batch 64 and sequences of 100 (by how much on which machine:
# `docs/performance.md`, measured by `benchmarks/bench.py`).
#
# It is the chain rule through `step`'s lines, from the last time step to the first. Write
# $\delta a$ for the gradient of the loss with respect to $a$, and $z = x_t W + b + h_{t-1}U$
# for the pre-activations of the four blocks. At step $t$, with $\delta h_t$ (from the output
# and from step $t+1$) and $\delta c_t$ (from step $t+1$):
#
# $$
# \begin{aligned}
# \delta c_t &\mathrel{+}= \delta h_t \odot o_t \odot (1 - \tanh^2 c_t)
#   && h_t = o_t \odot \tanh(c_t)\\
# \delta z_i &= \delta c_t \odot g_t \odot i_t (1 - i_t),\quad
# \delta z_f = \delta c_t \odot c_{t-1} \odot f_t (1 - f_t)
#   && c_t = f_t \odot c_{t-1} + i_t \odot g_t,\ \sigma' = \sigma(1-\sigma)\\
# \delta z_c &= \delta c_t \odot i_t \odot (1 - g_t^2),\quad
# \delta z_o = \delta h_t \odot \tanh(c_t) \odot o_t (1 - o_t)
#   && \tanh' = 1 - \tanh^2\\
# \delta h_{t-1} &= \delta z\, U^\top,\qquad \delta c_{t-1} = \delta c_t \odot f_t
#   && \text{the memory path: one product by } f_t\\
# \delta U &= \textstyle\sum_t h_{t-1}^\top \delta z_t,\qquad
# \delta(x_t W + b) = \delta z_t && \text{after the loop, in one product}
# \end{aligned}
# $$
#
# The loop over time in the code, line for line the same, with the products' casts as in
# `step` (the whole function, with the forward pass and the product for $\delta U$, is
# `FourGateLSTM._unrolled` in `helpers/model.py`):

# %%
def source_between(function, first, last):
    """The lines of ``function``'s source from the one containing ``first`` to the one
    containing ``last``: an excerpt that cannot drift from the code."""
    lines = textwrap.dedent(inspect.getsource(function)).splitlines()
    begin = next(n for n, line in enumerate(lines) if first in line)
    end = next(n for n, line in enumerate(lines) if n >= begin and last in line)
    return Code(textwrap.dedent("\n".join(lines[begin:end + 1])), language="python")


source_between(FourGateLSTM._unrolled, "for t in reversed", "d_c *= f")


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
# - A plain `tanh` RNN multiplies its gradient by `diag(1 - h^2) U` at every step: trained for
#   300 steps, its gradient from 50 characters back had fallen by more than a million times
#   (measured above, seeded). The LSTM's memory `c = f * c + i * g` is added to, so along it
#   the gradient is multiplied only by the forget gate, which training can hold near 1.
# - An LSTM has three gates (input, forget, output) and a candidate memory `g`, all four from
#   one fused product `x W + h U + b`, split in four; the output is `h = o * tanh(c)`. The
#   original, and the name `FourGateLSTM`, count four.
# - The hand-written backward pass is the chain rule through `step`, checked against
#   TensorFlow's own gradient.
# - The original wrote the same gates as eight matrices and four biases; with a `tanh`
#   candidate its port computes exactly what `FourGateLSTM` computes. Its weights start from a
#   truncated normal of mean -0.1, so at 1,024 units and those initial weights the port's gates
#   close on every second step.
# - The candidate memory `g` needs `tanh`: with the original's sigmoid nothing written is ever
#   negative, the memory can only grow (or decay towards zero) and the outputs are never
#   negative.
# - `FourGateLSTM` matches `keras.layers.LSTM` to float32 rounding with the same weights, both
#   for float inputs and for ids against one-hot vectors.
# - With vocabulary 260 and 256 hidden units the model has 596,228 parameters.
#
# Next, **04** trains it.

# %% [markdown]
# ## Exercises
#
# Two short exercises on this notebook. Fill in each function and run its cell, then run the
# cell below it: a check tries your function on a few cases chosen to catch the usual mistakes
# and tells you what it found. Left as they are, the checks say "not attempted yet". Reference
# solutions, for after you have tried:
# [`solutions/03_four_gate_lstm.py`](solutions/03_four_gate_lstm.py).
#
# ### 1. One LSTM step in NumPy
#
# Write `lstm_step(x, h, c, kernel, recurrent_kernel, bias)`, one step of `FourGateLSTM`
# (its `step`, shown in "The gates in code" above) in NumPy alone: `x` holds a batch of input
# vectors, shaped (batch, D), and `h` and `c` the state, (batch, H); the weights are shaped as
# `get_weights()` returns them, (D, 4H), (H, 4H) and (4H,), with the gates in the order
# i, f, c, o. Return the new `(h, c)`. The check tries your step on small weights of its own
# and on those of a fresh layer of 8 units reading one-hot vectors of 260 ids. Once notebook
# 04 has trained its model, try your step on the trained layer's weights too: the last lines of
# the check's cell, uncommented, do that.

# %%
def lstm_step(x, h, c, kernel, recurrent_kernel, bias):
    """One step of the four-gate LSTM in NumPy: the new (h, c)."""
    raise NotImplementedError  # your code here


# %%
from helpers.backend import tf
from helpers.exercises import check_lstm_step
from helpers.model import FourGateLSTM

exercise_layer = FourGateLSTM(8, input_dim=260)
exercise_layer(tf.zeros([1, 1], tf.int32))  # the first call creates the weights
check_lstm_step(lstm_step, weights=exercise_layer.get_weights())
# After notebook 04, on the weights it trained:
# from helpers.checkpoints import load_run
# check_lstm_step(lstm_step, weights=load_run("outputs/runs/notebook").model.lstm_0.get_weights())


# %% [markdown]
# ### 2. Counting parameters
#
# Write `lstm_parameters(input_dim, units)`: how many weights one LSTM layer has, biases
# included, for `input_dim` inputs and `units` hidden units. "Counting parameters" above has
# the formula; here it is yours to write, and `count_params()` of a layer to compare with.

# %%
def lstm_parameters(input_dim, units):
    """The number of weights of one LSTM layer, biases included."""
    raise NotImplementedError  # your code here


# %%
from helpers.exercises import check_lstm_parameters

check_lstm_parameters(lstm_parameters)
