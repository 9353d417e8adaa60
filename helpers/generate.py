"""Print a sample from a trained run directory.

    python -m helpers.generate --run-dir outputs/runs/default --prompt "I plan to" \\
        --num-chars 300 --temperature 0.8 --seed 1
"""

from __future__ import annotations

import argparse
import sys

from helpers.sampling import DEFAULT_PROMPT


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", default="outputs/runs/default",
                        help="a run directory written by training (relative to the repository)")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="text that primes the model")
    parser.add_argument("--num-chars", type=int, default=200)
    parser.add_argument("--temperature", type=float, default=0.8,
                        help="0: always the likeliest character; higher: more adventurous")
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--top-p", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-samples", type=int, default=1)
    args = parser.parse_args(argv)

    # Imported after parsing, so --help answers at once without loading TensorFlow.
    from helpers.sampling import Generator, check_sampling_options
    from helpers.training import NoTrainedModelError, load_run

    try:
        check_sampling_options(args.temperature, args.top_k, args.top_p)
        run = load_run(args.run_dir)
        samples = Generator(run.model, run.vocabulary).generate(
            args.prompt, args.num_chars, args.temperature, args.top_k, args.top_p, args.seed,
            args.num_samples)
    except (NoTrainedModelError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for sample in samples:
        print(args.prompt + sample)
    return 0


if __name__ == "__main__":
    sys.exit(main())
