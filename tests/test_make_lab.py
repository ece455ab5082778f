"""`make lab` (tools/lab.py): JupyterLab on notebooks/ for whoever runs it, root too, any OS."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.make_runner import REPO_ROOT, make
from tools import lab as lab_module
from tools.lab import lab_command, no_browser_reason, wait_through_ctrl_c

NOTEBOOKS = sorted(path.name for path in (REPO_ROOT / "notebooks").glob("*.ipynb"))
# The line JupyterLab prints for the user to open; the test reaches the server only through it.
PRINTED_URL = re.compile(r"(http://127\.0\.0\.1:\d+)/lab\?token=(\w+)")
LAB = [sys.executable, "-m", "tools.lab"]
START_SECONDS = 60.0


@pytest.mark.parametrize(
    ("environment", "platform", "opens"),
    [
        ({"DISPLAY": ":0"}, "linux", True),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
        ({}, "linux", False),
        ({"DISPLAY": ":0", "CI": "true"}, "linux", False),
        ({"DISPLAY": ":0", "CI": "false"}, "linux", True),
        ({}, "darwin", True),
        ({"CI": "1"}, "darwin", False),
    ],
)
def test_a_browser_opens_only_where_one_can(environment, platform, opens):
    assert (no_browser_reason(environment, platform) is None) is opens


@pytest.mark.parametrize(("user_id", "allowed"), [(0, True), (1000, False)])
def test_root_is_allowed_only_for_root(user_id, allowed):
    assert ("--allow-root" in lab_command(user_id, open_browser=True)) is allowed


def test_no_browser_flag_follows_the_machine():
    assert "--no-browser" in lab_command(1000, open_browser=False)
    assert "--no-browser" not in lab_command(1000, open_browser=True)


class FakeProcess:
    """A process whose first waits are interrupted by Ctrl-C, then exits with `code`."""

    def __init__(self, command: list[str], interruptions: int = 0, code: int = 0) -> None:
        self.command, self.interruptions, self.code = command, interruptions, code

    def wait(self) -> int:
        if self.interruptions:
            self.interruptions -= 1
            raise KeyboardInterrupt
        return self.code


def test_ctrl_c_waits_for_jupyterlab_to_stop_by_itself():
    assert wait_through_ctrl_c(FakeProcess([], interruptions=2, code=3)) == 3


def test_on_windows_lab_runs_jupyterlab_as_a_child_without_user_ids(monkeypatch):
    started: list[list[str]] = []
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.delattr(os, "getuid")  # as on Windows
    monkeypatch.setattr(os, "execv", lambda *_: pytest.fail("execv on Windows"))
    monkeypatch.setattr(
        lab_module.subprocess,
        "Popen",
        lambda command: started.append(command) or FakeProcess(command),
    )
    monkeypatch.setenv("CI", "true")
    with pytest.raises(SystemExit) as exited:
        lab_module.main(["--port=0"])
    assert exited.value.code == 0
    [command] = started
    assert command[1:3] == ["-m", "jupyterlab"] and "--allow-root" not in command
    assert command[-2:] == ["--no-browser", "--port=0"]


def test_make_lab_runs_the_command_this_test_starts():
    dry_run = make("-n", "lab", f"VENV={sys.prefix}")
    assert dry_run.returncode == 0, dry_run.stderr
    assert dry_run.stdout.splitlines()[-1] == " ".join(LAB)


@dataclass
class RunningLab:
    """A `make lab` server as its user sees it: the URL it printed and its token."""

    process: subprocess.Popen[bytes]
    base_url: str
    token: str
    log: Path

    def get(self, path: str, *, authorized: bool = True, method: str = "GET") -> object:
        """The JSON answer of the server's REST API at `path`."""
        headers = {"Authorization": f"token {self.token}"} if authorized else {}
        request = urllib.request.Request(self.base_url + path, headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def status_once_up(self) -> object:
        """The answer of /api/status, polled: JupyterLab prints its URL just before it listens."""
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                return self.get("/api/status")
            except urllib.error.HTTPError:
                raise
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def printed_url(log: Path, process: subprocess.Popen[bytes]) -> re.Match[str]:
    """Wait until JupyterLab has printed the URL to open."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        found = PRINTED_URL.search(log.read_text())
        if found:
            return found
        if process.poll() is not None:
            pytest.fail(f"make lab exited with {process.returncode}:\n{log.read_text()}")
        time.sleep(0.2)
    pytest.fail(f"make lab printed no URL within {START_SECONDS} s:\n{log.read_text()}")


@contextmanager
def started_lab(workdir: Path) -> Iterator[RunningLab]:
    """Start what `make lab` runs, on a free port, as a terminal without a display would."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DISPLAY", "WAYLAND_DISPLAY", "CI")
    }
    environment["JUPYTER_RUNTIME_DIR"] = str(workdir / "runtime")  # no files left in ~/.local
    log = workdir / "lab.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*LAB, "--port=0"], cwd=REPO_ROOT, env=environment, stdout=output, stderr=output
        )
    try:
        found = printed_url(log, process)
        yield RunningLab(process, found[1], found[2], log)
    finally:
        print(log.read_text())  # pytest shows it when the test fails
        if process.poll() is None:
            for leftover in psutil.Process(process.pid).children(recursive=True):
                with suppress(psutil.NoSuchProcess):  # a short-lived helper may exit first
                    leftover.kill()
            process.kill()
            process.wait()


def listens(process: psutil.Process) -> bool:
    """Whether a process has a listening TCP socket."""
    connections = process.net_connections(kind="inet")
    return any(connection.status == psutil.CONN_LISTEN for connection in connections)


def kernel_process(server_pid: int) -> psutil.Process:
    """The kernel JupyterLab started, once it listens (it has finished starting)."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        for child in psutil.Process(server_pid).children(recursive=True):
            with suppress(psutil.NoSuchProcess):
                if "ipykernel_launcher" in " ".join(child.cmdline()) and listens(child):
                    return child
        time.sleep(0.2)
    pytest.fail(f"no kernel of JupyterLab listened within {START_SECONDS} s")


def alive(process: psutil.Process) -> bool:
    """Whether a process still runs; a zombie has finished."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def inet_connections(process: psutil.Process, *, required: bool) -> list:
    """The process's inet sockets; none for a short-lived helper that has already exited."""
    try:
        return process.net_connections(kind="inet")
    except psutil.NoSuchProcess:
        # JupyterLab runs `yarn config` and the kernel forks `uname -p` as they start; both exit.
        if required:
            raise
        return []


def test_make_lab_serves_the_notebooks_and_stops_with_nothing_left(tmp_path):
    with started_lab(tmp_path) as lab:
        status = lab.status_once_up()
        assert isinstance(status, dict) and "started" in status

        with pytest.raises(urllib.error.HTTPError) as refused:
            lab.get("/api/contents", authorized=False)
        assert refused.value.code == 403

        listing = lab.get("/api/contents")
        assert isinstance(listing, dict)
        served = {item["name"] for item in listing["content"] if item["type"] == "notebook"}
        assert NOTEBOOKS and served == set(NOTEBOOKS)

        kernel = lab.get("/api/kernels", method="POST")
        assert isinstance(kernel, dict) and kernel["name"] == "python3"
        tree = [psutil.Process(lab.process.pid), kernel_process(lab.process.pid)]
        tree += [child for child in tree[0].children(recursive=True) if child not in tree]
        listening = [
            connection.laddr
            for process in tree
            for connection in inet_connections(process, required=process in tree[:2])
            if connection.status == psutil.CONN_LISTEN
        ]
        assert {address.ip for address in listening} == {"127.0.0.1"}

        lab.process.send_signal(signal.SIGTERM)
        assert lab.process.wait(timeout=60) == 0
        psutil.wait_procs(tree[1:], timeout=30)
        assert [process.pid for process in tree if alive(process)] == []

        output = lab.log.read_text()
        assert "make lab: not opening a browser (no DISPLAY or WAYLAND_DISPLAY)" in output
        assert "No web browser found" not in output
