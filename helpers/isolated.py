"""Run Python code in a child process, so a crash or a hang in native code spares the kernel."""

import signal
import subprocess
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Ending:
    """How a child process ended: exit status (None if it hung and was killed) and output."""

    exit_status: int | None
    output: str
    limit_s: float

    @property
    def hung(self) -> bool:
        """True when the child was still running at the time limit."""
        return self.exit_status is None

    @property
    def signal_name(self) -> str | None:
        """The signal that killed the child (such as "SIGSEGV"), if one did."""
        if self.exit_status is None or self.exit_status >= 0:
            return None
        return signal.Signals(-self.exit_status).name

    def __str__(self) -> str:
        if self.hung:
            return f"no answer after {self.limit_s:g} s: it hung, and was killed"
        if self.signal_name:
            return f"killed by {self.signal_name}"
        return f"exit status {self.exit_status}: {self.output}"


def run_isolated(code: str, *args: str, limit_s: float) -> Ending:
    """Run `code` in a fresh Python with `args` as sys.argv[1:]; kill it after `limit_s` seconds."""
    command = [sys.executable, "-c", code, *args]
    try:
        child = subprocess.run(command, capture_output=True, text=True, timeout=limit_s)
    except subprocess.TimeoutExpired:  # run() has killed the child and waited for it
        return Ending(None, "", limit_s)
    return Ending(child.returncode, child.stdout.strip(), limit_s)
