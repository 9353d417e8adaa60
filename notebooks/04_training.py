# %% [markdown]
# # 04 · Training the LSTM
#
# Time to learn. This notebook trains the character model of notebook 03 on the test split of
# WikiText-2 (as the original tutorial did) and measures it on the validation split, in **bits
# per character** (BPC): how many yes/no questions the model needs, on average, to pin down the
# next character. Guessing blindly among our 260 ids costs log2(260) ≈ 8 bits; English text
# written by a good model costs around 1.
#
# Everything below comes from `helpers.training`; the run directory it writes holds the
# checkpoints, the vocabulary, the configuration and the history, so training can be resumed
# (run this notebook again with a larger `max_steps`) and notebook 05 can sample from it.
#
# **Your own text.** Set `text_file` below to the path of any UTF-8 text file (a book, your
# notes, code) and the same model trains on it instead of WikiText-2: the file's last tenth
# (`valid_fraction`) is kept aside for validation and never trained on, and the vocabulary is
# that of the rest. From a terminal, `make run TEXT=path/to/file.txt` does the same for the
# main job; the README's section "Train on your own text" has a complete example.

# %% [markdown]
# ## Parameters
#
# The cell below is tagged `parameters`: papermill replaces these values when it runs the
# notebook from the command line, for example
#
# ```bash
# papermill notebooks/04_training.ipynb outputs/04_3000.ipynb -p max_steps 3000
# ```
#
# The names are the original tutorial's where they mean the same thing. The defaults are sized
# to finish in a few minutes on a laptop CPU and still produce real words; `make run` trains
# longer.

# %% tags=["parameters"]
batch_size = 64  # sequences per step
max_steps = 500  # training steps in total (a resumed run continues up to this)
log_every = 50  # steps between validation measurements
save_every = 250  # steps between checkpoints
hidden_nodes = 256  # LSTM units
len_per_section = 100  # characters per training sequence
skip = None  # stride between sequences; None: len_per_section (no overlap)
learning_rate = 0.005  # Adam's step size
lr_schedule = "constant"  # or "cosine": decays to a tenth of learning_rate by max_steps
seed = 0
train_split = "test"  # the WikiText-2 split to train on (when text_file is None)
valid_split = "valid"  # the WikiText-2 split to validate on (when text_file is None)
text_file = None  # your own UTF-8 text instead of WikiText-2 (path from the repository root)
valid_fraction = 0.1  # with text_file: the last part of the file, kept for validation
output_dir = "outputs/runs/notebook"  # relative to the repository root

# %% [markdown]
# Derived values are computed here, after the parameters, so that papermill's overrides reach
# them. A mistyped value stops the notebook right here, with a message naming the parameter,
# before TensorFlow does any work.

# %%
from helpers.training import TrainConfig

config = TrainConfig(
    batch_size=batch_size, max_steps=max_steps, log_every=log_every, save_every=save_every,
    hidden_nodes=hidden_nodes, len_per_section=len_per_section, skip=skip,
    learning_rate=learning_rate, lr_schedule=lr_schedule, seed=seed, train_split=train_split,
    valid_split=valid_split, text_file=text_file, valid_fraction=valid_fraction,
    output_dir=output_dir,
).validate()
print("parameters are valid")

# %% [markdown]
# ## Why not the original's settings?
#
# The original trained 1024 hidden units on batches of 512 sections of 50 characters, fed as
# dense one-hot vectors, with plain SGD at learning rate 10. Counting the matrix products of one
# training step (forward, plus about twice that backward) shows what that costs on a laptop.

# %%
from helpers.model import lstm_training_flops

vocab_size = 260
original = lstm_training_flops(512, 50, 1024, vocab_size, input_matmul=True)
ours = lstm_training_flops(config.batch_size, config.len_per_section, config.hidden_nodes,
                           vocab_size)
print(f"original: {original / 1e9:,.0f} GFLOP per training step")
print(f"ours:     {ours / 1e9:,.1f} GFLOP per training step ({original / ours:,.0f}x less)")

# %% [markdown]
# How fast is this machine at matrix products? We time one at the size of the original's
# recurrent product, then turn FLOPs into seconds.

# %%
# NBVAL_IGNORE_OUTPUT
import time

from helpers.backend import tf

a = tf.random.normal([512, 1024])
b = tf.random.normal([1024, 4096])
tf.matmul(a, b)  # warm-up
started = time.perf_counter()
for _ in range(10):
    tf.matmul(a, b).numpy()
flops_per_s = 10 * 2 * 512 * 1024 * 4096 / (time.perf_counter() - started)
print(f"this machine: {flops_per_s / 1e9:,.0f} GFLOP/s at the original's recurrent shape")
print(f"original: ~{original / flops_per_s:,.1f} s per step, "
      f"~{original / flops_per_s * 72_001 / 3600:,.0f} hours for its 72,001 steps")
print(f"ours:     ~{ours / flops_per_s:,.2f} s per step at best")

# %% [markdown]
# So we train a smaller model on longer sequences, with a loss at *every* character of a
# sequence instead of only after the last one, using Adam with gradient clipping instead of plain
# SGD at learning rate 10.
#
# ## Train
#
# The progress bar shows the training and validation BPC as they are measured. If the run
# directory already holds a checkpoint, training resumes from it, provided it was trained on the
# same text: with a `text_file`, the run directory records the file's SHA-256 in `corpus.json`,
# and continuing it on a file whose contents changed is refused.

# %%
# NBVAL_IGNORE_OUTPUT
from helpers.training import train

history = train(config)

# %% [markdown]
# What must hold, whatever the machine: the loss fell, and a default-length run on WikiText-2 is
# far below the ~4.6 bits per character that the original reported after 100 steps. On your own
# text the figures depend on the text; a small one can be learnt by heart, so that validation
# BPC rises again, which is said rather than treated as a failure.

# %%
valid = [row["valid_bpc"] for row in history]
assert history[-1]["step"] == config.max_steps
if len(valid) > 1 and config.text_file is None:
    assert valid[-1] < valid[0], "validation BPC did not fall"
elif len(valid) > 1 and valid[-1] >= valid[0]:  # on a small text of your own, it can happen
    print(f"validation BPC rose from {valid[0]:.2f} to {valid[-1]:.2f}: the model is learning "
          "its training text by heart (overfitting); a longer text, fewer steps or a smaller "
          "model (hidden_nodes) help")
if config.max_steps >= 500 and config.text_file is None:
    assert valid[-1] < 3.2, f"validation BPC {valid[-1]:.2f} is higher than expected"
print("training checks passed")

# %% [markdown]
# ## The learning curves
#
# Training BPC is averaged over the steps since the last measurement; validation BPC is measured
# on the same fixed first 100,000 characters of the validation split every time (with a
# `text_file`, of the file's last part).

# %%
# NBVAL_IGNORE_OUTPUT
import matplotlib.pyplot as plt

from helpers.plots import plot_history, save_figure

ax = plot_history(history)
ax.axhline(4.6, color="grey", linestyle=":", label="original after 100 steps (~4.6)")
ax.legend()
save_figure(ax, config.run_dir / "loss_curve.png")
plt.show()

# %%
# NBVAL_IGNORE_OUTPUT
at_100 = next((row for row in history if row["step"] >= 100), history[-1])
last = history[-1]
print(f"after {at_100['step']} steps: {at_100['valid_bpc']:.2f} BPC (the original: ~4.6)")
print(f"after {last['step']} steps: {last['valid_bpc']:.2f} BPC, "
      f"{last['chars_per_sec']:,.0f} characters/s, {last['elapsed'] / 60:.1f} minutes")

# %% [markdown]
# ## Where the run is
#
# Everything is in the run directory, relative to the repository root. Notebook 05 samples from
# it; `python -m helpers.generate --run-dir DIR` does the same from a terminal.

# %%
from helpers.paths import relative

print(relative(config.run_dir))
for name in ("config.json", "vocabulary.json", "history.json", "loss_curve.png",
             "checkpoints") + (("corpus.json",) if config.text_file else ()):
    assert (config.run_dir / name).exists(), name
    print("  ", name)
