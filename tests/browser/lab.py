"""A throwaway JupyterLab on 127.0.0.1 over copies of the notebooks, with its memory sampled."""

import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from helpers.serving.launcher import free_port

SETTINGS: dict[str, dict[str, object]] = {
    # Render every cell, so the test sees all prompts and outputs (JupyterLab 4 virtualizes).
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    # No news or update check: the machine has no internet and the toast hides the page.
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


def write_user_settings(folder: Path) -> None:
    """Write the JupyterLab user settings that make the page testable."""
    for plugin, values in SETTINGS.items():
        package, name = plugin.rsplit("/", 1)
        target = folder / package / f"{name}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))


def describe(process: psutil.Process) -> str:
    """A short, stable label for a process: 'jupyterlab', 'kernel <pid>', 'model server <pid>'."""
    command = " ".join(process.cmdline())
    if "ipykernel_launcher" in command:
        parent = process.parent()
        if parent is not None and "ipykernel_launcher" in " ".join(parent.cmdline()):
            return f"short-lived fork of kernel {parent.pid}"  # e.g. a library running `uname`
        return f"kernel {process.pid}"
    if "helpers.model_server" in command:
        return f"model server {process.pid}"
    if "jupyterlab" in command:
        return "jupyterlab"
    return f"{process.name()} {process.pid}"


@dataclass
class MemorySampler:
    """Samples the proportional memory (PSS) of a process tree in a background thread.

    PSS splits shared pages (OpenVINO's and TensorFlow's libraries are mapped by every kernel)
    between the processes that share them, so the sum is what the tree really occupies; a sum
    of RSS counts every shared page once per process and overstates it.
    """

    root_pid: int
    interval_seconds: float = 0.5
    peak_bytes: int = 0
    peak_by_process: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> dict[str, int]:
        """PSS in bytes of each live process of the tree, by label."""
        try:
            root = psutil.Process(self.root_pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return {}
        sizes: dict[str, int] = {}
        for process in processes:
            try:
                sizes[describe(process)] = process.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return sizes

    def run(self) -> None:
        """Sample until stopped, keeping the peak of the sum and of each process."""
        while not self._stop.wait(self.interval_seconds):
            sizes = self.sample()
            self.peak_bytes = max(self.peak_bytes, sum(sizes.values()))
            for label, size in sizes.items():
                self.peak_by_process[label] = max(self.peak_by_process.get(label, 0), size)

    def stop(self) -> None:
        """End sampling."""
        self._stop.set()


@dataclass
class Lab:
    """A running JupyterLab: where to reach it and how much memory it has used at most."""

    base_url: str
    root: Path
    memory: MemorySampler


def wait_until_up(url: str, timeout_seconds: float = 60.0) -> None:
    """Poll the server's status API until it answers."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/api/status", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"JupyterLab did not answer at {url} within {timeout_seconds} s")


def shut_down_kernels(base_url: str) -> int:
    """Shut down every running kernel through the server's REST API; return how many."""
    with urllib.request.urlopen(f"{base_url}/api/kernels", timeout=10) as response:
        kernels = json.load(response)
    for kernel in kernels:
        request = urllib.request.Request(f"{base_url}/api/kernels/{kernel['id']}", method="DELETE")
        urllib.request.urlopen(request, timeout=30).close()
    return len(kernels)


@contextmanager
def running_lab(notebooks: list[Path], workdir: Path) -> Iterator[Lab]:
    """Start JupyterLab on copies of `notebooks` in `workdir`; stop it and its kernels after."""
    root, settings, workspaces = workdir / "notebooks", workdir / "settings", workdir / "workspaces"
    root.mkdir(parents=True)
    workspaces.mkdir()
    for notebook in notebooks:
        shutil.copy(notebook, root / notebook.name)
    write_user_settings(settings)
    port = free_port()
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
        "--ip=127.0.0.1", f"--port={port}", "--IdentityProvider.token=", "--ServerApp.password=",
        f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={workspaces}", "--LabApp.expose_app_in_browser=True",
        # Loopback-only and tokenless: lets the test shut kernels down through the REST API.
        "--ServerApp.disable_check_xsrf=True",
    ]  # fmt: skip
    log = (workdir / "jupyterlab.log").open("wb")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    memory = MemorySampler(server.pid)
    sampler = threading.Thread(target=memory.run, daemon=True)
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_up(base_url)
        sampler.start()
        yield Lab(base_url, root, memory)
    finally:
        memory.stop()
        for child in psutil.Process(server.pid).children(recursive=True):
            with suppress(psutil.NoSuchProcess):  # a short-lived fork may exit first
                child.terminate()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
