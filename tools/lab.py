"""JupyterLab on notebooks/, bound to 127.0.0.1, for root and other users alike.

What `make lab` and `python -m tools.bootstrap lab` run; tests/test_make_lab.py starts it the same
way. Extra arguments go to Jupyter.
"""

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def no_browser_reason(environment: Mapping[str, str], platform: str) -> str | None:
    """Why no browser can be opened on this machine, or None when one can."""
    if environment.get("CI", "").lower() not in ("", "0", "false"):
        return "this is CI"
    has_display = environment.get("DISPLAY") or environment.get("WAYLAND_DISPLAY")
    if platform.startswith("linux") and not has_display:
        return "no DISPLAY or WAYLAND_DISPLAY"
    return None


def lab_command(user_id: int | None, open_browser: bool, extra: Sequence[str] = ()) -> list[str]:
    """The JupyterLab command line for this user and machine."""
    command = [
        sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", f"--ServerApp.root_dir={NOTEBOOKS}",
    ]  # fmt: skip
    if user_id == 0:  # JupyterLab refuses root without it; containers and CI often run as root.
        command.append("--allow-root")
    if not open_browser:
        command.append("--no-browser")
    return [*command, *extra]


def wait_through_ctrl_c(process: subprocess.Popen) -> int:
    """Wait for `process` to exit; Ctrl-C reaches it too, and it decides how to stop."""
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            continue


def main(extra: Sequence[str]) -> None:
    """Replace this process with JupyterLab (run it, on Windows), saying when no browser opens."""
    reason = no_browser_reason(os.environ, sys.platform)
    if reason is not None:
        print(
            f"make lab: not opening a browser ({reason}); "
            "open the http://127.0.0.1 URL that JupyterLab prints below.",
            flush=True,
        )
    user_id = os.getuid() if sys.platform != "win32" else None  # Windows has no root to allow
    command = lab_command(user_id, open_browser=reason is None, extra=extra)
    if sys.platform == "win32":  # execv there starts a new process and returns at once
        sys.exit(wait_through_ctrl_c(subprocess.Popen(command)))
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
