"""Training on several worker processes with ``tf.distribute.MultiWorkerMirroredStrategy``.

Each worker is one process (usually one per machine, holding that machine's GPUs). All of them
run the same ``helpers.training.train``: every step, each worker computes the gradient of its
share of the global batch, the shares are summed across workers, clipped once and applied
everywhere, so every worker holds the same weights. Only the chief (worker 0) writes the run
directory. A worker learns where it stands from the environment variable ``TF_CONFIG``::

    TF_CONFIG='{"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]},
                "task": {"type": "worker", "index": 0}}'      # index 1 on the second machine
    python -m helpers.distributed worker -p batch_size 64 -p max_steps 1000

The settings are read as ``helpers.runs`` reads them (``helpers.config``): ``--preset NAME``
(``--preset main``: the main job's longer run) under ``-p NAME VALUE`` pairs naming
``TrainConfig`` fields, each converted by its field's type and checked before the worker
joins the cluster. ``launch`` hands every worker the checked configuration whole, as a JSON
file (``worker --config FILE``). ``batch_size`` is the
global batch: each of N workers trains on ``batch_size / N`` rows of it. To try it on one
machine, ``launch`` starts N local workers on free 127.0.0.1 ports (on CPU with
``--cpu-only``) and waits for them::

    python -m helpers.distributed launch --workers 2 --cpu-only --preset main -p batch_size 128

The strategy must exist before TensorFlow does anything else in the process, and importing
``helpers.backend`` (hence ``helpers.training``) already lists the devices, after which
collective ops can no longer be configured. So this module imports neither at the top, and
``make_strategy`` imports TensorFlow itself, before them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from helpers.checks import check_int
from helpers.config import TrainConfig, add_parameter_options, convert_parameters, field_types
from helpers.paths import REPO_ROOT

JOBS = ("chief", "worker")  # the task types MultiWorkerMirroredStrategy trains with
TF_CONFIG_EXAMPLE = ('{"cluster": {"worker": ["127.0.0.1:12345", "127.0.0.1:12346"]}, '
                     '"task": {"type": "worker", "index": 0}}')


def parse_tf_config(raw: str | None) -> dict:
    """Check ``TF_CONFIG``; return it parsed, or raise ``ValueError`` saying what is wrong.

    TensorFlow's own errors for a bad TF_CONFIG surface deep inside the strategy's
    constructor, or as a worker that waits forever for a peer that does not exist.
    """
    hint = f"; for example TF_CONFIG='{TF_CONFIG_EXAMPLE}'"
    if not raw:
        raise ValueError("TF_CONFIG is not set: every worker needs the cluster and its own "
                         f"place in it{hint}")
    try:
        tf_config = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"TF_CONFIG is not valid JSON ({exc}){hint}") from None
    if not isinstance(tf_config, dict):
        raise ValueError(f"TF_CONFIG must be a JSON object{hint}")
    cluster = tf_config.get("cluster")
    if not isinstance(cluster, dict) or not cluster:
        raise ValueError(f'TF_CONFIG has no "cluster" listing the workers\' addresses{hint}')
    for job, addresses in cluster.items():
        if job not in JOBS:
            raise ValueError(f"TF_CONFIG's cluster has a {job!r} job; MultiWorkerMirroredStrategy "
                             f"trains with {' and '.join(JOBS)} tasks only")
        if not isinstance(addresses, list) or not addresses or not all(
                isinstance(a, str) and a.rpartition(":")[2].isdigit() for a in addresses):
            raise ValueError(f"TF_CONFIG's cluster[{job!r}] must be a list of \"host:port\" "
                             f"addresses, got {addresses!r}")
    if "worker" not in cluster:
        raise ValueError(f'TF_CONFIG\'s cluster has no "worker" list{hint}')
    task = tf_config.get("task")
    if not isinstance(task, dict):
        raise ValueError('TF_CONFIG has no "task" saying which worker this process is, e.g. '
                         '"task": {"type": "worker", "index": 0}')
    task_type, index = task.get("type"), task.get("index")
    if task_type not in cluster:
        raise ValueError(f"TF_CONFIG's task type {task_type!r} is not a job of its cluster "
                         f"({', '.join(cluster)})")
    if isinstance(index, bool) or not isinstance(index, int) \
            or not 0 <= index < len(cluster[task_type]):
        raise ValueError(f"TF_CONFIG's task index must be an integer from 0 to "
                         f"{len(cluster[task_type]) - 1} (its cluster has "
                         f"{len(cluster[task_type])} {task_type} addresses), got {index!r}")
    return tf_config


def make_strategy(raw_tf_config: str | None = None):
    """A MultiWorkerMirroredStrategy for this process's place in ``TF_CONFIG``.

    Call it first thing in the process: before anything imports ``helpers.backend``.
    """
    tf_config = parse_tf_config(os.environ.get("TF_CONFIG") if raw_tf_config is None
                                else raw_tf_config)
    if "helpers.backend" in sys.modules:
        raise RuntimeError("make_strategy() must run before helpers.backend (or any module "
                           "that imports it, such as helpers.training) is imported: "
                           "TensorFlow configures collective ops only at program start")
    os.environ["TF_CONFIG"] = json.dumps(tf_config)  # what TensorFlow's resolver reads
    import tensorflow as tf  # here, not through helpers.backend: see the module docstring

    # RING: plain gRPC all-reduce, which works on CPUs and GPUs alike (NCCL needs GPUs).
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.RING)
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def worker_main(config: TrainConfig) -> int:
    """What one worker process runs: build the strategy, then train with ``config`` (checked
    already). Prints, as its last line of output, a JSON object with this worker's task,
    whether it is the chief, and the history ``train`` returned.
    """
    strategy = make_strategy()
    from helpers.training import train  # only now: see the module docstring

    is_chief = strategy.extended.should_checkpoint
    history = train(config, strategy=strategy, progress=False, verbose=is_chief)
    resolver = strategy.cluster_resolver
    print(json.dumps({"task": f"{resolver.task_type}:{resolver.task_id}", "chief": is_chief,
                      "history": history}), flush=True)
    return 0


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports on 127.0.0.1 that are free right now.

    Each comes from binding to port 0 (the kernel picks); all are held until all are chosen so
    that none is picked twice. Another program could still take one before a worker binds it.
    """
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class WorkerResult:
    index: int
    pid: int
    returncode: int | None  # None: killed by us (time limit, or another worker failed)
    stdout: str
    stderr: str

    def last_json(self) -> dict:
        """The JSON object ``worker_main`` printed last."""
        return json.loads(self.stdout.strip().splitlines()[-1])


class WorkersFailed(RuntimeError):
    """A local worker failed or the time ran out; the message holds each one's stderr tail."""

    def __init__(self, reason: str, results: list[WorkerResult], tail_chars: int = 3000):
        self.results = results
        parts = [reason]
        for r in results:
            status = "killed" if r.returncode is None else f"exit code {r.returncode}"
            parts.append(f"--- worker {r.index} ({status}), end of stderr:\n"
                         f"{r.stderr[-tail_chars:]}")
        super().__init__("\n".join(parts))


def run_local_workers(configs: list[dict], timeout: float = 600.0, env: dict | None = None,
                      log_dir: os.PathLike | str | None = None) -> list[WorkerResult]:
    """Run one worker per config on 127.0.0.1 (free ports); wait for all, return their output.

    Each config is a dict of TrainConfig fields, handed to its worker whole as a JSON file
    (``worker --config FILE``); normally every worker gets the same one. ``log_dir``: where
    worker<i>.out/.err are written and kept (None: a temporary folder). Raises
    ``WorkersFailed`` if any worker fails or the time runs out. No worker outlives this call:
    when one fails the others would wait for it inside a collective operation, so they are
    killed at once.
    """
    addresses = [f"127.0.0.1:{port}" for port in free_ports(len(configs))]
    procs, logs, killed = [], [], set()
    with contextlib.ExitStack() as stack:
        if log_dir is None:
            log_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="char-lstm-"))
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        try:
            for index, config in enumerate(configs):
                tf_config = {"cluster": {"worker": addresses},
                             "task": {"type": "worker", "index": index}}
                # Files, not pipes: a worker blocked on a full pipe would stall the others.
                out = stack.enter_context(open(Path(log_dir) / f"worker{index}.out", "w+",
                                               encoding="utf-8"))
                err = stack.enter_context(open(Path(log_dir) / f"worker{index}.err", "w+",
                                               encoding="utf-8"))
                logs.append((out, err))
                config_file = Path(log_dir) / f"worker{index}.config.json"
                config_file.write_text(json.dumps(config), encoding="utf-8")
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "helpers.distributed", "worker", "--config",
                     str(config_file)],
                    cwd=REPO_ROOT, stdout=out, stderr=err,
                    env={**os.environ, **(env or {}), "TF_CONFIG": json.dumps(tf_config)}))
            reason = _wait_for_all(procs, timeout)
        finally:
            for index, proc in enumerate(procs):
                if proc.poll() is None:
                    proc.kill()
                    killed.add(index)
            for proc in procs:
                proc.wait(timeout=30)
        results = []
        for index, (proc, (out, err)) in enumerate(zip(procs, logs, strict=True)):
            out.seek(0)
            err.seek(0)
            results.append(WorkerResult(index, proc.pid,
                                        None if index in killed else proc.returncode,
                                        out.read(), err.read()))
    if reason or any(r.returncode != 0 for r in results):
        raise WorkersFailed(reason or "a worker failed", results)
    return results


def _wait_for_all(procs, timeout: float) -> str | None:
    """None once every worker has exited 0; otherwise why we stopped waiting."""
    deadline = time.monotonic() + timeout
    while True:
        codes = [p.poll() for p in procs]
        if all(c == 0 for c in codes):
            return None
        failed = [i for i, c in enumerate(codes) if c not in (None, 0)]
        if failed:
            return f"worker {failed[0]} exited with code {codes[failed[0]]}"
        if time.monotonic() > deadline:
            return f"the workers did not finish within {timeout:g} s"
        time.sleep(0.1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.distributed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="run one worker (its place: TF_CONFIG)")
    launch = commands.add_parser("launch", help="run N local workers on 127.0.0.1")
    for sub in (worker, launch):
        add_parameter_options(sub)
    worker.add_argument("--config", type=Path, metavar="FILE",
                        help="the TrainConfig fields as a JSON object (what launch hands over; "
                        "instead of --preset and -p)")
    launch.add_argument("--workers", type=int, default=2)
    launch.add_argument("--cpu-only", action="store_true",
                        help="hide the GPUs from the workers (CUDA_VISIBLE_DEVICES='')")
    launch.add_argument("--timeout", type=float, default=24 * 3600.0, help="seconds")
    launch.add_argument("--log-dir", help="keep worker<i>.out/.err here (default: a new "
                        "temporary folder, printed)")
    args = parser.parse_args(argv)
    try:
        if args.command == "worker":
            return worker_main(_worker_config(args))
        check_int("--workers", args.workers)
        parameters = convert_parameters(args.parameter, field_types(TrainConfig))
        config = TrainConfig.from_parameters(parameters, args.preset).validate()
        log_dir = args.log_dir or tempfile.mkdtemp(prefix="char-lstm-workers-")
        print(f"worker logs: {log_dir}/worker<i>.out and .err", flush=True)
        results = run_local_workers([config.to_json()] * args.workers, timeout=args.timeout,
                                    env={"CUDA_VISIBLE_DEVICES": ""} if args.cpu_only else None,
                                    log_dir=log_dir)
        print(results[0].stdout, end="")  # the chief's log
        return 0
    except (ValueError, WorkersFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _worker_config(args) -> TrainConfig:
    """The worker's settings, checked before it joins the cluster."""
    if args.config is None:
        parameters = convert_parameters(args.parameter, field_types(TrainConfig))
        return TrainConfig.from_parameters(parameters, args.preset).validate()
    if args.parameter:
        raise ValueError("--config holds every setting: give no -p with it")
    try:
        payload = json.loads(args.config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"--config {args.config}: {exc}") from None
    if not isinstance(payload, dict):
        raise ValueError(f"--config {args.config} must hold a JSON object of TrainConfig fields")
    return TrainConfig.from_parameters(payload).validate()


if __name__ == "__main__":
    sys.exit(main())
