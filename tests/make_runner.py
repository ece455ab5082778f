"""Run the repository's Makefile from a test, as a user would from a fresh shell."""

import os
import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MAKE = shutil.which("make") or "make"


def make(*arguments: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run make in the repository (with PATH replaced when given); output as text."""
    # Not what an enclosing `make test PYTHON=...` passes down to sub-makes.
    inherited = ("PYTHON", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")
    environment = {name: value for name, value in os.environ.items() if name not in inherited}
    if path is not None:
        environment["PATH"] = path
    return subprocess.run(
        [MAKE, "--no-print-directory", *arguments],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )


def make_value(name: str, *arguments: str, path: str | None = None) -> str:
    """A variable as the Makefile computes it."""
    printed = make(
        "-s", f"--eval=print-value: ; @echo $({name})", "print-value", *arguments, path=path
    )
    assert printed.returncode == 0, printed.stderr
    return printed.stdout.strip()
