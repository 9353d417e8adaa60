"""Print a sample from a trained run directory.

    python -m helpers.generate [--run-dir outputs/runs/main] --prompt "I plan to" \\
        --num-chars 300 --temperature 0.8 --seed 1

Without --run-dir: the main job's run (outputs/runs/main, what `make run` trains), or if that
holds no model yet the most recently trained run under outputs/runs/; stderr says which. One
sample is printed as it is generated; several (--num-samples) once they are all done.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import warnings
from pathlib import Path

from helpers import rundir
from helpers.checks import check_int
from helpers.config import DEFAULT_PROMPT, DEFAULT_TEMPERATURE, check_prompt, check_sampling_options
from helpers.paths import OUTPUTS, relative

MAIN_RUN = "main"  # helpers.runs' default --name
# Samples are generated together, as one batch: its LSTM state and logits grow with the
# number of samples, its output with all the characters. Bounds far above anything worth
# reading, and far below what exhausts a laptop's memory.
MAX_SAMPLES = 10_000
MAX_CHARS = 10_000_000


def default_run_dir(outputs: Path | None = None) -> tuple[Path, str]:
    """The run to sample from when none is named, and why that one.

    ``NoTrainedModelError`` when no run under ``outputs/runs`` holds a trained model.
    """
    from helpers.checkpoints import NoTrainedModelError  # imports TensorFlow: not for --help

    runs = Path(outputs or OUTPUTS) / "runs"
    main = runs / MAIN_RUN
    if rundir.holds_trained_model(main):
        return main, "the main job's run"
    trained = [d for d in sorted(runs.iterdir()) if d.is_dir() and rundir.holds_trained_model(d)] \
        if runs.is_dir() else []
    if not trained:
        raise NoTrainedModelError(
            f"no run under {relative(runs)} holds a trained model. Train first: `make run` "
            "(into outputs/runs/main) or notebooks/04_training.ipynb; or pass --run-dir")

    def last_saved(run_dir: Path) -> float:
        files = rundir.checkpoint_files(run_dir / rundir.CHECKPOINTS)
        return max(path.stat().st_mtime for paths in files.values() for path in paths)

    newest = max(trained, key=last_saved)
    return newest, f"the most recently trained run; {relative(main)} holds none"


def _show_warning(message, category, *args, **kwargs):
    """Warnings (a damaged checkpoint skipped, unknown prompt characters) as one line each."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", default=None,
                        help="a run directory written by training (relative to the repository); "
                             "default: outputs/runs/main, else the newest trained run")
    parser.add_argument("--outputs", type=Path, default=None, metavar="DIR",
                        help="where to look for runs/ without --run-dir (default: outputs/)")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="text that primes the model")
    parser.add_argument("--num-chars", type=int, default=200)
    parser.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE,
                        help="0: always the likeliest character; higher: more adventurous")
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--top-p", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-samples", type=int, default=1)
    args = parser.parse_args(argv)

    try:
        check_prompt(args.prompt)
        check_sampling_options(args.temperature, args.top_k, args.top_p)
        check_int("--num-chars", args.num_chars, minimum=0)
        check_int("--num-samples", args.num_samples)
        if args.num_samples > MAX_SAMPLES:
            raise ValueError(f"--num-samples must be at most {MAX_SAMPLES:,} (they are generated "
                             f"together, in memory), got {args.num_samples:,}")
        if args.num_samples * args.num_chars > MAX_CHARS:
            raise ValueError(f"--num-samples {args.num_samples:,} of --num-chars "
                             f"{args.num_chars:,} is more than {MAX_CHARS:,} characters in all: "
                             "ask for fewer, or run several commands")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        return _generate(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr, flush=True)
        return 130


@contextlib.contextmanager
def _ctrl_c_between_pieces():
    """While streaming, Ctrl-C is only noted, and the loop stops at the next piece. Python's own
    handler raises KeyboardInterrupt wherever the main thread is, and one raised while a
    finaliser runs (TensorFlow frees its tensors in ``__del__``) is printed and dropped: the
    stream then ran on to its end."""
    noted = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: noted.append(signum))
    try:
        yield lambda: bool(noted)
    finally:
        signal.signal(signal.SIGINT, previous)


def _generate(args) -> int:
    # Imported after parsing, so --help answers at once without loading TensorFlow.
    from helpers.checkpoints import NoTrainedModelError, load_run
    from helpers.sampling import Generator

    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            if args.run_dir is None:
                run_dir, why = default_run_dir(args.outputs)
                print(f"sampling from {relative(run_dir)} ({why})", file=sys.stderr, flush=True)
            else:
                run_dir = args.run_dir
            run = load_run(run_dir)
            generator = Generator(run.model, run.vocabulary)
            if args.num_samples == 1:
                pieces = generator.stream(args.prompt, args.num_chars, args.temperature,
                                          args.top_k, args.top_p, args.seed)
                first = next(pieces, "")  # checks the options before anything is printed
                # Noted from the first piece on: a reader that saw it may press Ctrl-C at once
                with _ctrl_c_between_pieces() as interrupted:
                    sys.stdout.write(args.prompt + first)
                    sys.stdout.flush()
                    for piece in pieces:
                        sys.stdout.write(piece)
                        sys.stdout.flush()
                        if interrupted():
                            raise KeyboardInterrupt
                print()
                return 0
            samples = generator.generate(args.prompt, args.num_chars, args.temperature,
                                         args.top_k, args.top_p, args.seed, args.num_samples)
        except (NoTrainedModelError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except BrokenPipeError:  # the reader stopped early (`| head`): not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # quiet at exit
            return 0
    for sample in samples:
        print(args.prompt + sample)
    return 0


if __name__ == "__main__":
    sys.exit(main())
