"""What makes the training step faster on a CPU, side by side in one run:
python benchmarks/step_speed.py

Times ``train``'s own step (``build_training`` and ``make_train_step``, the main preset's
dropout on the outputs and on the recurrent weights) with the recurrent products in float32
and in bfloat16 (``matmul_dtype``), and the same step compiled by XLA (``jit_compile=True``),
interleaved so that a noisy neighbour hits every variant alike; and, for the reason, one
product of the step's shape and a large one in both dtypes. Writes its section of
benchmarks/RESULTS.md. Quick check: python benchmarks/step_speed.py --repeats 1 --steps 1
--no-xla --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import results_md  # benchmarks/, beside this script

from helpers.backend import tf
from helpers.checks import bfloat16_cpu_features
from helpers.config import TrainConfig
from helpers.step import train_step
from helpers.training import build_training, make_train_step

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BEGIN, END = results_md.markers("step_speed.py")


def config_for(args, matmul_dtype: str) -> TrainConfig:
    return TrainConfig(hidden_nodes=args.hidden_nodes, batch_size=args.batch_size,
                       len_per_section=args.len_per_section, dropout=0.5,
                       recurrent_dropout=0.25, matmul_dtype=matmul_dtype)


def steps_to_time(args) -> dict:
    """name: a function of ``(x, y)`` that takes one training step and returns its loss."""
    steps = {}
    for dtype in ("float32", "bfloat16"):
        config = config_for(args, dtype)
        model, optimizer, counter = build_training(config, args.vocab_size)
        step = make_train_step(model, optimizer, counter, tf.distribute.get_strategy(),
                               config.clip_norm)
        steps[dtype] = lambda x, y, step=step: step((x, y))
    if args.xla:
        config = config_for(args, "float32")
        model, optimizer, _ = build_training(config, args.vocab_size)
        compiled = tf.function(lambda x, y: train_step(model, optimizer, x, y,
                                                       config.clip_norm)[0], jit_compile=True)
        steps["float32_xla"] = compiled
    return steps


def measure_steps(args) -> dict:
    rng = np.random.default_rng(0)
    shape = (args.batch_size, args.len_per_section)
    x = tf.constant(rng.integers(1, args.vocab_size, shape), tf.int32)
    y = tf.constant(rng.integers(1, args.vocab_size, shape), tf.int32)
    steps, first = steps_to_time(args), {}
    for name, step in steps.items():
        started = time.perf_counter()
        step(x, y).numpy()  # tracing, and compiling for XLA
        first[name] = time.perf_counter() - started
    seconds = {name: [] for name in steps}
    for _ in range(args.repeats):
        for name, step in steps.items():  # interleaved
            started = time.perf_counter()
            for _ in range(args.steps):
                loss = step(x, y)
            loss.numpy()
            seconds[name].append((time.perf_counter() - started) / args.steps)
    return {name: {"step_s": statistics.median(v), "first_call_s": first[name]}
            for name, v in seconds.items()}


def _product(a, b):
    return tf.function(lambda: tf.matmul(a, b))


def measure_products(args) -> dict:
    """Seconds of one product ``a @ b`` in float32 and in bfloat16, at the step's recurrent
    shape (batch x H times H x 4H) and at 2048^3."""
    shapes = {"step": (args.batch_size, args.hidden_nodes, 4 * args.hidden_nodes),
              "2048^3": (2048, 2048, 2048)}
    result = {}
    for label, (m, k, n) in shapes.items():
        a, b = tf.random.normal([m, k]), tf.random.normal([k, n])
        products = {dtype: _product(tf.cast(a, dtype), tf.cast(b, dtype))
                    for dtype in ("float32", "bfloat16")}
        times = min(300, max(3, int(2e9 / (2 * m * k * n))))  # about 2 GFLOP, if not tiny
        samples = {dtype: [] for dtype in products}
        for product in products.values():
            product().numpy()
        for _ in range(args.repeats):
            for dtype, product in products.items():
                started = time.perf_counter()
                for _ in range(times):
                    out = product()
                out.numpy()
                samples[dtype].append((time.perf_counter() - started) / times)
        result[label] = {dtype: statistics.median(v) for dtype, v in samples.items()}
    return result


def rows(steps: dict, products: dict, chars_per_step: int) -> list[tuple[str, str]]:
    f32 = steps["float32"]["step_s"]
    out = [(f"training step, {name.replace('_', ', ')}",
            f"{v['step_s'] * 1e3:,.0f} ms ({chars_per_step / v['step_s']:,.0f} chars/s), "
            f"{f32 / v['step_s']:.2f}x float32; first call {v['first_call_s']:.1f} s")
           for name, v in steps.items()]
    for label, seconds in products.items():
        out.append((f"one product at {label}, float32 / bfloat16",
                    f"{seconds['float32'] * 1e3:,.2f} ms / {seconds['bfloat16'] * 1e3:,.2f} ms "
                    f"= {seconds['float32'] / seconds['bfloat16']:.2f}x"))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden-nodes", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--len-per-section", type=int, default=100)
    parser.add_argument("--vocab-size", type=int, default=260)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5, help="training steps per repeat")
    parser.add_argument("--no-xla", dest="xla", action="store_false",
                        help="leave out the XLA step (its compiling takes a minute or more)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()

    flags = bfloat16_cpu_features()
    print(f"hidden={args.hidden_nodes} batch={args.batch_size} len={args.len_per_section}, "
          f"{args.repeats} repeats; bfloat16 CPU features: {', '.join(flags) or 'none'}",
          flush=True)
    steps, products = measure_steps(args), measure_products(args)
    table = rows(steps, products, args.batch_size * args.len_per_section)
    width = max(len(name) for name, _ in table)
    for name, value in table:
        print(f"{name:<{width}}  {value}")
    if args.no_write:
        return
    text = "\n".join([
        BEGIN, "", "## The training step: bfloat16 products and XLA", "",
        f"Written by `python benchmarks/step_speed.py` (medians of {args.repeats} interleaved "
        f"repeats of {args.steps} steps) on {platform.machine()} with "
        f"{len(os.sched_getaffinity(0))} cores, {platform.system()}, "
        f"TensorFlow {tf.__version__}; the CPU's bfloat16 features: "
        f"{', '.join(flags) or 'none'}. Sizes: hidden_nodes={args.hidden_nodes}, "
        f"batch_size={args.batch_size}, len_per_section={args.len_per_section}, "
        f"vocabulary={args.vocab_size}; dropout 0.5 and recurrent_dropout 0.25. `bfloat16` is "
        "`matmul_dtype=\"bfloat16\"` (the recurrent products only; the weights, gates and "
        "memory stay float32); XLA is the float32 step compiled with `jit_compile=True`.", "",
        "| measure | value |", "| --- | --- |",
        *[f"| {name} | {value} |" for name, value in table], "",
        "Raw: `" + json.dumps({"steps": steps, "products": products, "cpu_bf16": flags}) + "`",
        "", END, ""])
    results_md.write_section(RESULTS, text, BEGIN, END)
    print(f"wrote {RESULTS.name}")


if __name__ == "__main__":
    main()
