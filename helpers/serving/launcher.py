"""Start and stop a model server from a notebook: the local `helpers.model_server`, or real OVMS.

Taught in notebook 09 and used in 10 to 12; the tests and benchmarks start their servers with it.
The launcher writes a model repository (`<repo>/<name>/<version>/model.xml`, plus config.json if
asked), starts the server on free loopback ports with its log in a file, waits until
GetModelStatus reports AVAILABLE (`status_probe`), and stops it on request or when the Python
process exits. A local server reads its stdin from a pipe the launcher holds: `stop()` writes
`stop` there, and the server drains its requests and writes its snapshot before it exits, the same
on Windows, macOS and Linux (a signal cannot do that on Windows). When this process dies without
running its exit handlers (e.g. a killed kernel) the OS closes the pipe, and the server stops too.
Importing it does not import TensorFlow; the first status probe imports the TF Serving messages.
"""

import atexit
import os
import socket
import subprocess
import sys
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import openvino as ov

from helpers.paths import REPO_ROOT
from helpers.serving.protocol import PARENT_PID_VARIABLE, STOP_PIPE_VARIABLE
from helpers.serving.repository import write_model_repository
from helpers.serving.status_probe import model_is_available

OVMS_IMAGE = "openvino/model_server:2026.2"
LOOPBACK = "127.0.0.1"
_RUNNING: "weakref.WeakSet[ServerHandle]" = weakref.WeakSet()
# The stop request lets the server finish in-flight requests (its SHUTDOWN_GRACE_SECONDS, 5 s) and
# write its snapshot; a kill comes only after this longer wait.
STOP_TIMEOUT_SECONDS = 15.0


def free_port() -> int:
    """A TCP port that is free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def accepts_connections(port: int, timeout_s: float = 0.5) -> bool:
    """True when something accepts TCP connections on the loopback `port` (a listen queue will)."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout_s):
            return True
    except OSError:
        return False


@dataclass(eq=False)
class ServerHandle:
    """A started server: where it listens, where it logs, and how to stop it."""

    model_names: list[str]
    grpc_port: int
    rest_port: int
    log_path: Path
    process: subprocess.Popen | None = None
    container: str | None = None
    _log_file: TextIO | None = field(default=None, repr=False)

    @property
    def grpc_address(self) -> str:
        """`host:port` for grpc.insecure_channel."""
        return f"{LOOPBACK}:{self.grpc_port}"

    @property
    def rest_url(self) -> str:
        """Base URL of the REST API."""
        return f"http://{LOOPBACK}:{self.rest_port}"

    @property
    def pid(self) -> int:
        """The process id of a local server (a Docker container has none here)."""
        if self.process is None:
            raise RuntimeError("this server runs in a container, not as a child process")
        return self.process.pid

    def is_running(self) -> bool:
        """True while the server process (or container start command) has not exited."""
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        """Everything the server has logged so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Stop the server (asked through its pipe, killed after `timeout`); safe to call twice."""
        if self.container:
            subprocess.run(["docker", "stop", self.container], capture_output=True, check=False)
            self.container = None
        if self.process is not None and self.process.poll() is None:
            ask_to_stop(self.process)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        _RUNNING.discard(self)

    def __enter__(self) -> "ServerHandle":
        """Use as a context manager that stops the server on exit."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the server."""
        self.stop()


def ask_to_stop(process: subprocess.Popen) -> None:
    """Ask a launched server to stop gracefully: `stop` on its stdin pipe, then close it."""
    if process.stdin is None:  # not started by `start_server`: there is no pipe to ask through
        process.kill()
        return
    try:
        process.stdin.write(b"stop\n")
        process.stdin.close()
    except OSError:  # it is exiting already and closed its end
        pass


def docker_user() -> list[str]:
    """`-u uid:gid` so files the container writes stay yours; none on Windows (no such ids)."""
    if sys.platform == "win32":
        return []
    return ["-u", f"{os.getuid()}:{os.getgid()}"]


def local_server_command(grpc_port: int, rest_port: int, server_args: Sequence[str]) -> list[str]:
    """The command line that runs `helpers.model_server` with this interpreter."""
    return [
        sys.executable,
        "-m",
        "helpers.model_server",
        "--port",
        str(grpc_port),
        "--rest_port",
        str(rest_port),
        *server_args,
    ]


def docker_command(
    repository: str | Path,
    grpc_port: int,
    rest_port: int,
    server_args: Sequence[str],
    image: str = OVMS_IMAGE,
) -> list[str]:
    """`docker run` for real OVMS: the repository mounted read-only at /models, ports on loopback.

    Paths in `server_args` must already be container paths (`/models/...`).
    """
    return [
        "docker",
        "run",
        "--rm",
        "-d",
        *docker_user(),
        "-v",
        f"{Path(repository).resolve()}:/models:ro",
        "-p",
        f"{LOOPBACK}:{grpc_port}:9000",
        "-p",
        f"{LOOPBACK}:{rest_port}:8000",
        image,
        "--port",
        "9000",
        "--rest_port",
        "8000",
        *server_args,
    ]


def model_server_args(
    repository: str | Path,
    model_name: str | None = None,
    stateful: bool = False,
    config: bool = False,
    root: str | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """Flags for one model (`--model_name/--model_path`) or for `<repository>/config.json`."""
    base = root if root is not None else str(Path(repository).resolve())
    if config:
        return ["--config_path", f"{base}/config.json", *extra]
    if model_name is None:
        raise ValueError("model_name is required without config")
    args = ["--model_name", model_name, "--model_path", f"{base}/{model_name}"]
    return [*args, *(["--stateful"] if stateful else []), *extra]


def unused_log_path(folder: Path, grpc_port: int) -> Path:
    """`server-<port>.log` in `folder`, numbered `-2`, `-3`... when a server there used that name.

    A restart on the same port then keeps the log of the server it replaces.
    """
    path, number = folder / f"server-{grpc_port}.log", 1
    while path.exists():
        number += 1
        path = folder / f"server-{grpc_port}-{number}.log"
    return path


def start_server(
    repository: str | Path,
    model_names: Sequence[str],
    server_args: Sequence[str],
    log_path: str | Path | None = None,
    use_docker: bool = False,
    wait_seconds: float = 60.0,
    grpc_port: int | None = None,
    rest_port: int | None = None,
) -> ServerHandle:
    """Start a server and wait until every model is AVAILABLE; ports not given are free ones."""
    grpc_port = free_port() if grpc_port is None else grpc_port
    if rest_port is None:
        rest_port = free_port()
        while rest_port == grpc_port:
            rest_port = free_port()
    # One log per server, so two servers over one repository never truncate each other's log.
    log = Path(log_path) if log_path else unused_log_path(Path(repository), grpc_port)
    log.parent.mkdir(parents=True, exist_ok=True)
    log_file = log.open("w", encoding="utf-8")
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])
    )
    env[PARENT_PID_VARIABLE] = str(os.getpid())
    if use_docker:
        command = docker_command(repository, grpc_port, rest_port, server_args)
    else:
        command = local_server_command(grpc_port, rest_port, server_args)
        env[STOP_PIPE_VARIABLE] = "1"
    stdin = subprocess.DEVNULL if use_docker else subprocess.PIPE
    process = subprocess.Popen(
        command, stdout=log_file, stderr=subprocess.STDOUT, stdin=stdin, env=env
    )
    handle = ServerHandle(list(model_names), grpc_port, rest_port, log, process)
    handle._log_file = log_file
    _RUNNING.add(handle)
    if use_docker:
        if process.wait() != 0:  # e.g. no Docker engine: fail now, not after wait_seconds
            handle.stop()
            raise RuntimeError(f"docker run failed:\n{handle.log_text()[-2000:]}")
        handle.container = log.read_text(encoding="utf-8").strip().splitlines()[-1][:64] or None
        handle.process = None
    try:
        _wait_until_available(handle, wait_seconds)
    except Exception:
        handle.stop()
        raise
    return handle


def serve_model(
    model: ov.Model | str | Path,
    name: str,
    repository: str | Path,
    stateful: bool = True,
    extra_args: Sequence[str] = (),
    use_docker: bool = False,
) -> ServerHandle:
    """Write `model` as version 1 of `name` and serve it (one model, CLI flags like OVMS)."""
    write_model_repository(model, repository, name)
    root = "/models" if use_docker else None
    args = model_server_args(repository, name, stateful, root=root, extra=extra_args)
    return start_server(repository, [name], args, use_docker=use_docker)


def _wait_until_available(handle: ServerHandle, wait_seconds: float) -> None:
    """Poll GetModelStatus until every model is AVAILABLE, the process dies, or time runs out."""
    deadline = time.monotonic() + wait_seconds
    pending = list(handle.model_names)
    while pending:
        if handle.process is not None and handle.process.poll() is not None:
            raise RuntimeError(f"model server exited early:\n{handle.log_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"models not AVAILABLE in time:\n{handle.log_text()[-2000:]}")
        if model_is_available(handle.grpc_address, pending[0], timeout=0.5):
            pending.pop(0)
        else:
            time.sleep(0.05)


@atexit.register
def _stop_all() -> None:
    """Stop every server this process started and did not stop."""
    for handle in list(_RUNNING):
        handle.stop()
