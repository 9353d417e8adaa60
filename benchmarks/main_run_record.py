"""Write docs/records/main_run.json, and the curve beside it, from a finished main job.

    make run                                   # the run, into outputs/runs/main
    .venv/bin/python benchmarks/main_run_record.py --machine "2 shared CPU cores, no GPU"

Every figure README.md and docs/results.md state about the main run is read from that record
(tests/test_docs.py checks them), and the record is read from the run's own files: metrics.json
(helpers.runs), history.json, progression.json, plan.json, config.json, samples.json; the curve
is drawn from history.json. Nothing is typed in.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpers import rundir  # noqa: E402
from helpers.config import PRESETS  # noqa: E402
from helpers.encoding import Vocabulary, detokenize  # noqa: E402
from helpers.paths import read_json, relative, write_json  # noqa: E402

RECORD = ROOT / "docs" / "records" / "main_run.json"
CURVE = ROOT / "docs" / "main_run_loss_curve.png"
SETTINGS = ("max_steps", "time_budget", "log_every", "save_every", "batch_size",
            "len_per_section", "hidden_nodes", "dropout", "recurrent_dropout", "learning_rate",
            "adam_beta2", "warmup_steps", "lr_schedule", "lr_floor", "clip_norm", "seed",
            "train_split", "valid_split", "valid_chars", "matmul_dtype")


def parameters_of(config: dict, vocab_size: int) -> int:
    from helpers.config import TrainConfig
    from helpers.model import build_model

    return build_model(TrainConfig.from_json(config), vocab_size).build_for(1, 1).count_params()


def progression_rows(run_dir: Path, history: list[dict]) -> list[dict]:
    """The samples at the first measurement, near a quarter of the run, and at its end."""
    samples = {row["step"]: row for row in rundir.read_progression(run_dir)}
    logged = [row for row in history if row["step"] in samples and row["step"] > 0]
    picked = {logged[0]["step"], logged[len(logged) // 4]["step"], logged[-1]["step"]}
    rows = []
    for row in (r for r in logged if r["step"] in picked):
        readable = detokenize(samples[row["step"]]["text"]).replace("\n", " / ").strip()
        rows.append({"step": row["step"], "valid_bpc": round(row["valid_bpc"], 2),
                     "train_bpc": round(row["train_bpc"], 2), "readable": readable})
    return rows


def record(run_dir: Path, machine: str) -> dict:
    metrics = read_json(run_dir / rundir.METRICS, dict)
    history = rundir.read_history(run_dir)
    config = rundir.read_config(run_dir)
    plan = rundir.read_plan(run_dir)
    samples = rundir.read_samples(run_dir)
    vocab = len(Vocabulary.load(run_dir / rundir.VOCABULARY))
    first = samples["samples"][0]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                            capture_output=True, timeout=30).stdout.strip()
    return {
        "what": "The main job, `make run` with the main preset (helpers.config.PRESETS['main']) "
                "over TrainConfig's defaults, seed 0, training on wiki.test.raw and validating on "
                "the first 100,000 characters of wiki.valid.raw.",
        "command": "make run",
        "commit": commit,
        "machine": f"{machine} ({platform.machine()}, {platform.system()})",
        "model": {"cell": config["cell"], "hidden_nodes": config["hidden_nodes"],
                  "num_layers": config["num_layers"], "embedding_dim": config["embedding_dim"],
                  "vocabulary": vocab, "parameters": parameters_of(config, vocab)},
        "settings": {name: config.get(name) for name in SETTINGS},
        "plan": plan,
        "metrics": {
            "steps": metrics["steps"], "train_bpc": round(metrics["train_bpc"], 3),
            "valid_bpc": round(metrics["valid_bpc"], 3),
            "best_valid_bpc": round(metrics["best_valid_bpc"], 3),
            "valid_bpc_carried": round(metrics["valid_bpc_carried"], 3),
            "train_seconds": round(metrics["training_time_s"], 1),
            "chars_per_sec": round(metrics["chars_per_sec"]),
            "peak_rss_mib": round(metrics["peak_rss_mb"]),
        },
        "sample": {"step": samples["step"], "temperature": first["temperature"],
                   "prompt": samples["prompt"], "readable": first["readable"]},
        "progression": progression_rows(run_dir, history),
        "curve": relative(CURVE),
        "sources": {"everything": f"the run folder's files, read by "
                                  f"benchmarks/{Path(__file__).name}; the folder itself "
                                  "(outputs/runs/main) is not committed",
                    "peak_rss_mib": "the peak resident memory (helpers.training.peak_rss_mb: "
                                    "VmHWM on Linux) of the kernel that executed notebook 04, "
                                    "in MiB"},
        "regenerate": f"make run, then .venv/bin/python benchmarks/{Path(__file__).name}",
    }


def draw_curve(history: list[dict]) -> None:
    """The run's training and validation BPC, drawn from its history as notebook 04 draws it."""
    import matplotlib

    matplotlib.use("Agg")
    from helpers.plots import plot_history, save_figure

    save_figure(plot_history(history), CURVE)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, default=ROOT / "outputs" / "runs" / "main")
    parser.add_argument("--machine", required=True,
                        help="the machine it ran on, as a reader should know it")
    args = parser.parse_args(argv)
    made = record(args.run_dir, args.machine)
    if made["settings"]["time_budget"] != PRESETS["main"].get("time_budget"):
        print("warning: this run's time_budget is not the main preset's", file=sys.stderr)
    write_json(RECORD, made)
    draw_curve(rundir.read_history(args.run_dir))
    print(f"wrote {relative(RECORD)} and {relative(CURVE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
