"""native_stderr_silenced hides writes to file descriptor 2 and restores it afterwards."""

import subprocess
import sys

SCRIPT = """
import os
from helpers.quiet import native_stderr_silenced
with native_stderr_silenced():
    os.write(2, b"hidden\\n")
os.write(2, b"shown\\n")
"""


def test_fd2_is_silenced_only_inside_the_block():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, check=True)
    assert done.stderr == b"shown\n"
