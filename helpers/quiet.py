"""Keep native (C++) log lines that libraries write straight to file descriptor 2 out of cells.

TensorFlow prints its start-up lines (CUDA stubs, CPU features) through absl before any setting
such as TF_CPP_MIN_LOG_LEVEL is read, so the only way to drop them is to silence the descriptor
while TensorFlow is first imported. A notebook calls `import_tensorflow_quietly()` once in its
imports cell, before anything that imports TensorFlow (Keras, the TF Serving protos); helpers that
import TensorFlow themselves use `native_stderr_silenced` around that import.
"""

import importlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# The descriptor swap is process-wide: two threads inside it at once could leave it lost.
_FD2_LOCK = threading.RLock()


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the duration (Python's sys.stderr is untouched)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _FD2_LOCK:
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow once with its C++ start-up lines dropped; later imports print none."""
    with native_stderr_silenced():
        importlib.import_module("tensorflow")
