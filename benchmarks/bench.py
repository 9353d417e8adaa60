"""Side-by-side measurements, in one run on one machine: python benchmarks/bench.py

Prints and writes benchmarks/RESULTS.md:
- training throughput (characters/s) of our FourGateLSTM and of keras.layers.LSTM, each timed
  through the step ``train`` runs (``helpers.training.build_training`` and
  ``make_train_step``: Adam, the clipping, the loss in bits), and of a faithful TensorFlow 2
  port of the original tutorial's graph (helpers.original: dense one-hot input, eight products
  per step, the loss at every position as in the original, plain SGD), at the same sizes, and
  ratios;
- the FLOP/s our training step achieves as a share of this machine's measured matmul peak;
- sampling throughput at batch 1: re-feeding the whole prefix, stateful generation one call
  per character, and the generation loop in one graph (with and without XLA);
- peak resident memory of a default training run (a separate process).
Each figure is the median of several repeats, interleaved so that a noisy neighbour hits all
variants alike. Quick check: python benchmarks/bench.py --repeats 1 --steps 2
Sampling only: python benchmarks/bench.py --only sampling (or --only training)
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import results_md  # benchmarks/, beside this script

from helpers import original
from helpers.backend import keras, tf
from helpers.config import TrainConfig
from helpers.model import CharLSTM, lstm_training_flops
from helpers.paths import REPO_ROOT, relative
from helpers.training import build_training, make_train_step

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def training_step(args, cell: str):
    """``train``'s own step (``make_train_step``) for a CharLSTM of these sizes, as ``(x, y)
    -> bits``; TrainConfig's defaults otherwise (Adam, clipping at 1.0)."""
    config = TrainConfig(hidden_nodes=args.hidden_nodes, batch_size=args.batch_size,
                         len_per_section=args.len_per_section, cell=cell)
    model, optimizer, step = build_training(config, args.vocab_size)
    train_step = make_train_step(model, optimizer, step, tf.distribute.get_strategy(),
                                 config.clip_norm)
    return lambda x, y: train_step((x, y))


def _build_trainers(args):
    vocab, hidden = args.vocab_size, args.hidden_nodes
    trainers = {"four_gate": training_step(args, "four_gate"),
                "keras_lstm": training_step(args, "keras")}
    # The original's graph as helpers.original ports it: eight products per step on dense
    # one-hot input, the loss at every position, plain SGD at its learning rate of 10. Its
    # label is the character after the section: the last target of our shifted windows.
    port = original.OriginalLSTM(vocab, hidden, seed=0)
    port(tf.zeros([1, 1, vocab]))
    original_step = original.make_train_step(port, "sgd", original.ORIGINAL)
    trainers["original_port"] = tf.function(lambda x, y: original_step(x, y[:, -1]))
    return trainers


def measure_training(args) -> dict[str, float]:
    rng = np.random.default_rng(0)
    shape = (args.batch_size, args.len_per_section)
    x = tf.constant(rng.integers(1, args.vocab_size, shape), tf.int32)
    y = tf.constant(rng.integers(1, args.vocab_size, shape), tf.int32)
    trainers = _build_trainers(args)
    for step in trainers.values():
        step(x, y).numpy()  # compile
    samples = {name: [] for name in trainers}
    for _ in range(args.repeats):
        for name, step in trainers.items():  # interleaved: noise hits every variant alike
            started = time.perf_counter()
            for _ in range(args.steps):
                loss = step(x, y)
            loss.numpy()
            seconds = (time.perf_counter() - started) / args.steps
            samples[name].append(args.batch_size * args.len_per_section / seconds)
    return {name: statistics.median(v) for name, v in samples.items()}


def measure_matmul_peak(repeats: int) -> float:
    """Dense float32 matmul FLOP/s at 2048^3, the machine's practical peak."""
    a, b = tf.random.normal([2048, 2048]), tf.random.normal([2048, 2048])
    tf.matmul(a, b).numpy()
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(5):
            out = tf.matmul(a, b)
        out.numpy()
        rates.append(5 * 2 * 2048 ** 3 / (time.perf_counter() - started))
    return statistics.median(rates)


SAMPLING_METHODS = {  # name: (what it runs, characters per timed call)
    "refeed": ("generate_by_refeeding", 100),  # each character costs more than the last
    "stepwise": ("generate_stepwise", 500),
    "in_graph": ("generate", 2000),
    "in_graph_xla": ("generate", 2000),
}


def measure_sampling(args) -> dict[str, float]:
    """Characters/s at batch 1 (temperature 1): re-feeding the whole prefix for every
    character, the stateful loop in Python (one graph call per character), and the loop in
    one graph, without and with XLA. Each method has its own ``Generator`` so that its first
    call (tracing, and compiling for XLA) is timed on its own and left out of the rates."""
    from helpers.encoding import Vocabulary
    from helpers.sampling import DEFAULT_PROMPT, Generator

    chars = tuple(chr(c) for c in range(32, 32 + args.vocab_size - 1))
    vocab = Vocabulary(chars)
    model = CharLSTM(len(vocab), args.hidden_nodes).build_for()
    runs, result = {}, {}
    for name, (method, num_chars) in SAMPLING_METHODS.items():
        generator = Generator(model, vocab, jit_compile=name == "in_graph_xla")
        runs[name] = (getattr(generator, method), num_chars)
        started = time.perf_counter()
        runs[name][0](DEFAULT_PROMPT, 5)
        result[f"{name}_first_call_s"] = time.perf_counter() - started
    rates = {name: [] for name in runs}
    for repeat in range(args.repeats):
        for name, (run, num_chars) in runs.items():  # interleaved, as for training
            started = time.perf_counter()
            run(DEFAULT_PROMPT, num_chars, seed=repeat)
            rates[name].append(num_chars / (time.perf_counter() - started))
    for name, values in rates.items():
        result[name] = statistics.median(values)
        print(f"  {name:<13} chars/s " + " ".join(f"{v:,.0f}" for v in values)
              + f"  (first call {result[f'{name}_first_call_s']:.2f} s)", flush=True)
    return result


def sampling_rows(sampling) -> list[tuple[str, str]]:
    rows = [("sampling chars/s at batch 1, re-feeding the prefix", "refeed"),
            ("sampling chars/s at batch 1, stateful, one call per character", "stepwise"),
            ("sampling chars/s at batch 1, stateful, loop in one graph", "in_graph"),
            ("sampling chars/s at batch 1, stateful, loop in one graph, XLA", "in_graph_xla")]
    return [
        *[(label, f"{sampling[name]:,.0f}") for label, name in rows],
        ("one call per character / re-feeding",
         f"{sampling['stepwise'] / sampling['refeed']:.1f}x"),
        ("graph loop / one call per character",
         f"{sampling['in_graph'] / sampling['stepwise']:.1f}x"),
        ("graph loop with XLA / one call per character",
         f"{sampling['in_graph_xla'] / sampling['stepwise']:.1f}x"),
        ("graph loop with XLA / re-feeding",
         f"{sampling['in_graph_xla'] / sampling['refeed']:.0f}x"),
        ("first call (tracing; XLA: compiling): graph loop / with XLA",
         f"{sampling['in_graph_first_call_s']:.1f} s / "
         f"{sampling['in_graph_xla_first_call_s']:.1f} s"),
    ]


def measure_default_run_memory(steps: int) -> float:
    """Peak RSS of a default-configuration training run, in a process of its own.

    Sampled from outside with psutil: the child's own ``ru_maxrss`` would not do, since
    Linux carries a parent's high-water mark across fork and exec into the child.
    """
    import psutil

    with tempfile.TemporaryDirectory() as tmp:
        code = ("from helpers.config import TrainConfig; from helpers.training import train; "
                f"train(TrainConfig(max_steps={steps}, log_every={steps}, "
                f"save_every={steps}, output_dir={tmp!r}), progress=False, verbose=False)")
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        watched, peak = psutil.Process(proc.pid), 0
        while proc.poll() is None:
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.NoSuchProcess:
                break
            time.sleep(0.02)
        if proc.wait() != 0:
            raise RuntimeError(proc.stderr.read().decode()[-2000:])
    return peak / 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden-nodes", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--len-per-section", type=int, default=100)
    parser.add_argument("--vocab-size", type=int, default=260)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5, help="training steps per repeat")
    parser.add_argument("--memory-steps", type=int, default=100)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--only", choices=["sampling", "training"],
                        help="measure only this part and print it (RESULTS.md is not written)")
    args = parser.parse_args()

    if args.only == "training":
        print(f"training at hidden={args.hidden_nodes} batch={args.batch_size} "
              f"len={args.len_per_section} vocab={args.vocab_size}, {args.repeats} repeats",
              flush=True)
        for name, rate in measure_training(args).items():
            print(f"{name:<13} {rate:,.0f} chars/s")
        return

    if args.only == "sampling":
        print(f"sampling at batch 1, hidden={args.hidden_nodes} vocab={args.vocab_size}, "
              f"{args.repeats} repeats", flush=True)
        rows = sampling_rows(measure_sampling(args))
        width = max(len(name) for name, _ in rows)
        for name, value in rows:
            print(f"{name:<{width}}  {value}")
        return

    print(f"training at hidden={args.hidden_nodes} batch={args.batch_size} "
          f"len={args.len_per_section} vocab={args.vocab_size}, {args.repeats} repeats", flush=True)
    training = measure_training(args)
    peak = measure_matmul_peak(args.repeats)
    flops = lstm_training_flops(args.batch_size, args.len_per_section, args.hidden_nodes,
                                args.vocab_size)
    step_seconds = args.batch_size * args.len_per_section / training["four_gate"]
    achieved = flops / step_seconds
    print("sampling at batch 1", flush=True)
    sampling = measure_sampling(args)
    print("peak memory of a default training run", flush=True)
    memory = measure_default_run_memory(args.memory_steps)

    rows = [
        ("training chars/s, FourGateLSTM (ours)", f"{training['four_gate']:,.0f}"),
        ("training chars/s, keras.layers.LSTM", f"{training['keras_lstm']:,.0f}"),
        ("training chars/s, original graph ported to TF2", f"{training['original_port']:,.0f}"),
        ("ours / keras.layers.LSTM", f"{training['four_gate'] / training['keras_lstm']:.2f}x"),
        ("ours / original port", f"{training['four_gate'] / training['original_port']:.2f}x"),
        ("matmul peak (2048^3, float32)", f"{peak / 1e9:,.1f} GFLOP/s"),
        ("our training step", f"{achieved / 1e9:,.1f} GFLOP/s = {achieved / peak:.0%} of peak"),
        *sampling_rows(sampling),
        (f"peak RSS, TrainConfig()'s run (256 units, {args.memory_steps} steps)",
         f"{memory:,.0f} MiB"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    if args.no_write:
        return
    versions = {"python": platform.python_version(), "tensorflow": tf.__version__,
                "keras": keras.__version__, "numpy": np.__version__}
    lines = [
        "# Benchmark results", "",
        f"Written by `python benchmarks/bench.py` (medians of {args.repeats} interleaved "
        f"repeats of {args.steps} steps) on {platform.machine()} with "
        f"{_cpu_count()} cores, {platform.system()}; versions: "
        + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".", "",
        f"Sizes: hidden_nodes={args.hidden_nodes}, batch_size={args.batch_size}, "
        f"len_per_section={args.len_per_section}, vocabulary={args.vocab_size}.", "",
        "FLOP count of a training step (matrix products only, 2 FLOPs per multiply-add, "
        "backward = 2x forward): `3 * 2 * B * T * (H*4H + H*V)` with one-hot input as a row "
        f"lookup: {flops / 1e9:,.2f} GFLOP here.", "",
        "| measure | value |", "| --- | --- |",
        *[f"| {name} | {value} |" for name, value in rows], "",
        "Raw: `" + json.dumps({"training": training, "sampling": sampling,
                               "matmul_peak": peak, "peak_rss_mb": memory}) + "`", "",
    ]
    RESULTS.write_text("\n".join(lines) + _kept_sections(), encoding="utf-8")
    print(f"wrote {relative(RESULTS)}")


def _kept_sections() -> str:
    """The sections of RESULTS.md that other scripts write, kept as they are."""
    return results_md.kept_sections(RESULTS)


def _cpu_count():
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    main()
