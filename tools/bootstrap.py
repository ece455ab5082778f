"""Set up and run without make, on Windows, macOS or Linux: `python -m tools.bootstrap lab|test`.

The same steps as `make lab` and `make test`, for machines without make (Windows) and for
anyone who prefers Python: create the environment folder, install the pins and this package
(editable: `helpers.paths` finds `data/` from the source tree), register the kernel, then start
JupyterLab (tools/lab.py) or lint and test. Standard library only, since it runs before the
environment exists. The interpreter that runs it makes the environment, unless `--python` names
another; Python 3.14 and others the pins were not tested on are refused before anything is
installed. Arguments after `lab` go to JupyterLab, after `test` to pytest.
"""

from __future__ import annotations  # parses on old interpreters, which then get the clear refusal

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tools.lab import wait_through_ctrl_c

REPO_ROOT = Path(__file__).resolve().parents[1]
# The interpreters the pins are tested on; the Makefile's SUPPORTED_PYTHONS lists the same.
SUPPORTED = ((3, 11), (3, 12), (3, 13))
PRINT_VERSION = 'import sys; print("%d.%d" % sys.version_info[:2])'
LINTED = ("helpers", "tests", "notebooks", "benchmarks", "tools")
INSTALL_INPUTS = ("requirements.txt", "pyproject.toml")
STAMP = ".installed"


class SetupError(Exception):
    """A reason to stop before (or while) setting up, meant for the user as it is."""


def dotted(version: tuple[int, int]) -> str:
    """`3.13` for (3, 13)."""
    return f"{version[0]}.{version[1]}"


def refusal(version: tuple[int, int], python: str) -> str | None:
    """Why `python` (of `version`) cannot make the environment, or None when it can."""
    if version in SUPPORTED:
        return None
    first, last = dotted(SUPPORTED[0]), dotted(SUPPORTED[-1])
    found = f"{python} is Python {dotted(version)}"
    if version > SUPPORTED[-1]:
        return (
            f"{found}. TensorFlow 2.21 (pinned in requirements.txt) has no wheels for Python "
            f"{dotted(version)}: the first TensorFlow with them is a pre-release. Install Python "
            f"{last} with your system's package manager if it offers it, with pyenv ('pyenv "
            f"install {last}') or with uv ('uv python install {last}'; 'uv python find {last}' "
            f"prints its path), then run 'python{last} -m tools.bootstrap lab' or 'python -m "
            f"tools.bootstrap lab --python /path/to/python{last}'."
        )
    return (
        f"{found}. The pins are tested on Python {first} to {last}: install one, then run "
        f"'python{last} -m tools.bootstrap lab' or pass '--python /path/to/python3.X'."
    )


def interpreter_version(python: str) -> tuple[int, int]:
    """The major and minor version `python` reports (it is asked, never trusted by name)."""
    try:
        answer = subprocess.run(
            [python, "-c", PRINT_VERSION], capture_output=True, text=True, check=True
        ).stdout
        major, minor = answer.strip().split(".")
        return int(major), int(minor)
    except (OSError, subprocess.CalledProcessError, ValueError) as error:
        raise SetupError(f"{python} is not a Python that runs ({error})") from error


def venv_folder(version: tuple[int, int]) -> Path:
    """One environment per interpreter, named as the Makefile names them."""
    if version == SUPPORTED[0]:
        return REPO_ROOT / ".venv"
    return REPO_ROOT / f".venv-{dotted(version)}"


def venv_python(venv: Path) -> Path:
    """The environment's interpreter: Scripts\\python.exe on Windows, bin/python elsewhere."""
    if sys.platform == "win32":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def is_installed(venv: Path) -> bool:
    """True when the set-up finished after the last change to its inputs (as make decides)."""
    stamp = venv / STAMP
    if not stamp.exists():
        return False
    newest_input = max((REPO_ROOT / name).stat().st_mtime for name in INSTALL_INPUTS)
    return stamp.stat().st_mtime >= newest_input


def run(command: Sequence[str | Path]) -> None:
    """Run one step in the repository, echoed as make echoes it; stop on failure."""
    printable = [str(part) for part in command]
    print(" ".join(printable), flush=True)
    returncode = wait_through_ctrl_c(subprocess.Popen(printable, cwd=REPO_ROOT))
    if returncode != 0:
        raise SetupError(f"this step failed with exit code {returncode}")


def install(python: str, venv: Path) -> Path:
    """Create `venv` with `python` and install everything into it (once); its interpreter."""
    inside = venv_python(venv)
    if is_installed(venv):
        return inside
    run([python, "-m", "venv", venv])
    pip: list[str | Path] = [inside, "-m", "pip", "install", "--quiet"]
    run([*pip, "--upgrade", "pip"])
    run([*pip, "-r", "requirements.txt"])
    run([*pip, "--no-deps", "-e", "."])
    # A kernelspec inside the venv, so `python3` never resolves to another environment's kernel.
    kernel = ["ipykernel", "install", "--sys-prefix", "--name", "python3"]
    run([inside, "-m", *kernel, "--display-name", "Python 3 (ipykernel)"])
    (venv / STAMP).touch()
    return inside


def check_commands(inside: Path, pytest_args: Sequence[str]) -> list[list[str | Path]]:
    """`make test`: ruff, ruff format --check and mypy, then pytest."""
    return [
        [inside, "-m", "ruff", "check", *LINTED],
        [inside, "-m", "ruff", "format", "--check", *LINTED],
        [inside, "-m", "mypy"],
        [inside, "-m", "pytest", *pytest_args],
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Set up if needed, then run the chosen command; 1 with a message when set-up stops."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.bootstrap", description=__doc__, allow_abbrev=False
    )
    parser.add_argument("command", choices=("setup", "lab", "test"), help="what to run")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the venv")
    args, extra = parser.parse_known_args(argv)
    try:
        version = interpreter_version(args.python)
        reason = refusal(version, args.python)
        if reason is not None:
            raise SetupError(reason)
        inside = install(args.python, venv_folder(version))
        if args.command == "lab":
            run([inside, "-m", "tools.lab", *extra])
        elif args.command == "test":
            for command in check_commands(inside, extra):
                run(command)
    except SetupError as error:
        print(f"tools.bootstrap: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
