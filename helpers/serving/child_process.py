"""Start a proxy (nginx, Envoy) so that it ends when the Python process that started it dies."""

import os
import subprocess
import sys
from collections.abc import Sequence

# The kernel is to send the child SIGTERM when its parent dies (PR_SET_PDEATHSIG survives exec),
# unless the parent is gone already. A `preexec_fn` would do the same, but it makes Python fork,
# and gRPC's fork handlers in a process that uses gRPC can break the child (seen: Envoy lost about
# one start in six).
DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys; ctypes.CDLL(None).prctl(1, signal.SIGTERM); "
    "os.getppid() == int(sys.argv[1]) or sys.exit('the parent is gone'); "
    "os.execv(sys.argv[2], sys.argv[2:])"
)


def tied_to_parent(command: Sequence[str]) -> list[str]:
    """`command` behind a wrapper that ties it to this process on Linux; elsewhere as it is."""
    if sys.platform.startswith("linux"):  # elsewhere the program outlives a killed kernel
        return [sys.executable, "-I", "-S", "-c", DIE_WITH_PARENT, str(os.getpid()), *command]
    return list(command)


def wait_or_kill(process: subprocess.Popen, seconds: float) -> None:
    """Wait up to `seconds` for `process` to exit after it was asked to; kill it after that."""
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
