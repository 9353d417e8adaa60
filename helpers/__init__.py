"""Character-level text generation with a four-gate LSTM: the code the notebooks import.

Modules follow the pipeline: ``data`` (WikiText-2 and your own text), ``encoding``
(vocabulary, sections, batches), ``model`` (the four-gate LSTM), ``training``,
``sampling``, and ``runs`` (papermill batches); ``original`` holds the original tutorial's
settings, printed numbers and behaviour, bugs included.
"""

from helpers.paths import REPO_ROOT, relative

__all__ = ["REPO_ROOT", "relative"]
