"""Native writes to file descriptor 2 are dropped only where asked; TensorFlow starts quietly."""

import subprocess
import sys

SILENCED_BLOCK = """
import os
from helpers.quiet import native_stderr_silenced
with native_stderr_silenced():
    os.write(2, b"hidden\\n")
os.write(2, b"shown\\n")
"""

# TensorFlow, Keras and the TF Serving protos imported after the call, as a notebook's imports cell
# does; the Python-level stderr still works afterwards.
TENSORFLOW_ONCE = """
import os, sys
from helpers.quiet import import_tensorflow_quietly
import_tensorflow_quietly()
import keras
import tensorflow
from tensorflow_serving.apis import predict_pb2
print("python stderr works", file=sys.stderr, flush=True)
os.write(2, b"native stderr works\\n")
"""

# The same imports without the call print TensorFlow's start-up lines (so the test above means it).
TENSORFLOW_PLAIN = "import tensorflow"


def stderr_of(script: str) -> str:
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True)
    return done.stderr.decode()


def test_fd2_is_silenced_only_inside_the_block():
    assert stderr_of(SILENCED_BLOCK) == "shown\n"


def test_tensorflow_imported_quietly_leaves_only_later_writes():
    assert stderr_of(TENSORFLOW_PLAIN).strip() != ""
    assert stderr_of(TENSORFLOW_ONCE) == "python stderr works\nnative stderr works\n"
