"""Character-level text generation with a four-gate LSTM: the code the notebooks import.

In layers, each importing only those below it (``docs/architecture.md`` draws them):

- the core a learner reads: ``config`` (every setting), ``data`` and ``corpus`` (WikiText-2 and
  your own text), ``encoding`` (vocabulary, sections), ``batches``, ``model`` (the four-gate
  LSTM), ``step`` (one training step), ``evaluation``, ``sampling``;
- the run machinery: ``rundir`` and ``checkpoints`` (a run's folder), ``training`` (the loop),
  ``replicas`` and ``distributed`` (several devices), ``runs`` (the main job and sweeps),
  ``comparing`` (reading runs back), ``generate`` (sampling from a terminal);
- the lessons: ``original`` (the original tutorial, its bugs included), ``inspect_lstm``,
  ``exercises``.
"""

from helpers.paths import REPO_ROOT, relative

__all__ = ["REPO_ROOT", "relative"]
