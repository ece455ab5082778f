"""Keep native (C++) log lines that libraries write straight to file descriptor 2 out of cells.

Used in notebooks 05 and 06 around TensorFlow imports, and by `helpers.models.keras_forecaster`.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the duration (Python's sys.stderr is untouched)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
