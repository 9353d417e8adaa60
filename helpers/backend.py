"""Import TensorFlow once, quietly.

TensorFlow 2.21 writes C++ log lines straight to file descriptor 2 on import and on first
device use ("Could not find cuda drivers", "failed call to cuInit", the oneDNN notice, "All
log messages before absl::InitializeLog()"). ``TF_CPP_MIN_LOG_LEVEL`` does not silence all of
them, and ipykernel forwards that descriptor into notebook outputs, where a learner would take
them for errors. So the import and the device discovery run with descriptor 2 pointed at
/dev/null; Python-level errors still raise normally.
"""

import contextlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@contextlib.contextmanager
def quiet_fd2():
    """Descriptor 2 pointed at /dev/null for the block: TensorFlow's C++ log lines vanish,
    Python exceptions still raise."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (some embedded interpreters)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


with quiet_fd2():
    import keras  # noqa: E402
    import tensorflow as tf  # noqa: E402

    tf.config.list_logical_devices()  # device discovery prints the CUDA lines: do it now

__all__ = ["tf", "keras", "quiet_fd2"]
