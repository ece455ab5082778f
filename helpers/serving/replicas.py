"""N replicas of the local model server on loopback, with a proxy in front routing by sequence id.

Taught in notebook 12; used by tests/server/test_server_replicas.py, the routing benchmark and
`make replicas`. The proxy is nginx (the default where it is installed) or Envoy (`proxy="envoy"`,
routed by the rules of the Kubernetes manifests). Every replica serves the same repository on its
own fixed ports, so that a replica stopped and started again is the same upstream; with
`snapshots=True` each one gets its own `--sequence_snapshot_path`, and a restarted replica takes
its sequences back.
"""

import socket
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from helpers.serving import launcher
from helpers.serving.envoy import EnvoyHandle, parse_access_log_line, start_envoy
from helpers.serving.nginx import NginxHandle, find_nginx, start_nginx

PROXIES = ("nginx", "envoy")


def free_ports(count: int) -> list[int]:
    """`count` different TCP ports free on the loopback interface right now."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((launcher.LOOPBACK, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


@dataclass(eq=False)
class Replica:
    """One replica: its fixed ports, and its server while it runs."""

    index: int
    grpc_port: int
    rest_port: int
    server: launcher.ServerHandle | None = None
    starts: int = 0

    @property
    def grpc_address(self) -> str:
        """`host:port` of this replica's own gRPC port (not through the proxy)."""
        return f"{launcher.LOOPBACK}:{self.grpc_port}"

    @property
    def rest_url(self) -> str:
        """Base URL of this replica's own REST API (not through the proxy)."""
        return f"http://{launcher.LOOPBACK}:{self.rest_port}"


@dataclass(frozen=True)
class Route:
    """One access log line: which sequence a request carried and which replica answered."""

    protocol: str  # "grpc" or "rest"
    sequence_id: str | None
    replica: int | None  # None when the proxy answered itself (refused, replica down)
    http_status: int
    grpc_status: str | None
    uri: str


class Proxy(Protocol):
    """What the replica set needs of its proxy: nginx's and Envoy's handles both have it."""

    folder: Path
    grpc_port: int
    rest_port: int

    @property
    def access_log(self) -> Path:
        """The proxy's access log: one line per request."""

    def is_running(self) -> bool:
        """True while the proxy runs."""

    def stop(self) -> None:
        """Stop the proxy gracefully; safe to call twice."""


@dataclass(eq=False)
class ReplicaSet:
    """Replicas of one repository behind one proxy; a context manager that stops everything."""

    repository: Path
    model_names: list[str]
    server_args: list[str]
    folder: Path
    replicas: list[Replica]
    snapshots: bool = False
    proxy: Proxy | None = field(default=None, repr=False)
    _logged: list[Route] = field(default_factory=list, init=False, repr=False)
    _log_offset: int = field(default=0, init=False, repr=False)
    _log_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def nginx(self) -> NginxHandle | None:
        """The nginx in front, if the proxy is nginx."""
        return self.proxy if isinstance(self.proxy, NginxHandle) else None

    @property
    def envoy(self) -> EnvoyHandle | None:
        """The Envoy in front, if the proxy is Envoy."""
        return self.proxy if isinstance(self.proxy, EnvoyHandle) else None

    @property
    def grpc_address(self) -> str:
        """`host:port` of the proxy's gRPC port: what clients use."""
        assert self.proxy is not None, "the proxy is not running"
        return f"{launcher.LOOPBACK}:{self.proxy.grpc_port}"

    @property
    def rest_url(self) -> str:
        """Base URL of the proxy's REST port."""
        assert self.proxy is not None, "the proxy is not running"
        return f"http://{launcher.LOOPBACK}:{self.proxy.rest_port}"

    def snapshot_folder(self, index: int) -> Path:
        """Where replica `index` writes its snapshot (with `snapshots=True`)."""
        return self.folder / "snapshots" / f"replica-{index}"

    def start_replica(self, index: int, wait_seconds: float = 120.0) -> Replica:
        """Start replica `index` on its ports and wait until its models are AVAILABLE."""
        replica = self.replicas[index]
        if replica.server is not None and replica.server.is_running():
            raise RuntimeError(f"replica {index} is already running")
        args = list(self.server_args)
        if self.snapshots:
            self.snapshot_folder(index).mkdir(parents=True, exist_ok=True)
            args += ["--sequence_snapshot_path", str(self.snapshot_folder(index))]
        replica.starts += 1
        suffix = "" if replica.starts == 1 else f"-{replica.starts}"
        replica.server = launcher.start_server(
            self.repository,
            self.model_names,
            args,
            log_path=self.folder / f"replica-{index}{suffix}.log",
            wait_seconds=wait_seconds,
            grpc_port=replica.grpc_port,
            rest_port=replica.rest_port,
        )
        return replica

    def stop_replica(self, index: int, kill: bool = False) -> None:
        """Stop replica `index` gracefully (drains, writes its snapshot, on any OS), or kill it."""
        server = self.replicas[index].server
        if server is None:
            return
        if kill and server.process is not None and server.process.poll() is None:
            server.process.kill()
            server.process.wait()
        server.stop()

    def restart_replica(self, index: int) -> Replica:
        """Stop replica `index` tidily and start it again on the same ports."""
        self.stop_replica(index)
        return self.start_replica(index)

    def replica_at(self, address: str) -> int | None:
        """The index of the replica listening at `host:port` (gRPC or REST), else None."""
        for replica in self.replicas:
            if address in (replica.grpc_address, replica.rest_url.removeprefix("http://")):
                return replica.index
        return None

    def routes(self) -> list[Route]:
        """Every request the proxy has logged so far, oldest first."""
        assert self.proxy is not None, "the proxy is not running"
        with self._log_lock:
            for line in self._new_log_lines(self.proxy.access_log):
                route = self._nginx_route(line) if self.envoy is None else self._envoy_route(line)
                self._logged.append(route)
            return list(self._logged)

    def _new_log_lines(self, path: Path) -> list[str]:
        """The complete lines the proxy added to its access log since the last call."""
        if not path.exists():
            return []
        with path.open("rb") as log:
            log.seek(self._log_offset)
            added = log.read()
        complete = added[: added.rfind(b"\n") + 1]  # the proxy may be writing the last line
        self._log_offset += len(complete)
        return complete.decode("utf-8").splitlines()

    def _nginx_route(self, line: str) -> Route:
        """One line of nginx's access log (the `sequences` format of helpers.serving.nginx)."""
        assert self.proxy is not None, "the proxy is not running"
        _, port, sequence, upstream, status, upstream_grpc, own_grpc, uri = line.split("|", 7)
        grpc_status = upstream_grpc if upstream_grpc != "-" else own_grpc
        return Route(
            protocol="rest" if port == str(self.proxy.rest_port) else "grpc",
            sequence_id=None if sequence == "-" else sequence,
            replica=self.replica_at(upstream),
            http_status=int(status),
            grpc_status=None if grpc_status == "-" else grpc_status,
            uri=uri,
        )

    def _envoy_route(self, line: str) -> Route:
        """One line of Envoy's JSON access log."""
        assert self.proxy is not None, "the proxy is not running"
        request = parse_access_log_line(line)
        rest = request.port == self.proxy.rest_port
        return Route(
            protocol="rest" if rest else "grpc",
            sequence_id=request.sequence_id,
            replica=None if request.upstream is None else self.replica_at(request.upstream),
            http_status=request.status,
            grpc_status=None if rest else request.grpc_status,
            uri=request.path,
        )

    def stop(self) -> None:
        """Stop the proxy, then every replica (tidily); safe to call twice."""
        if self.proxy is not None:
            self.proxy.stop()
        for replica in self.replicas:
            self.stop_replica(replica.index)

    def __enter__(self) -> "ReplicaSet":
        """Use as a context manager that stops everything on exit."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the proxy and the replicas."""
        self.stop()


def start_replicas(
    repository: str | Path,
    model_names: Sequence[str],
    server_args: Sequence[str],
    count: int = 3,
    folder: str | Path | None = None,
    snapshots: bool = False,
    proxy: Literal["nginx", "envoy"] | None = None,
) -> ReplicaSet:
    """Start `count` replicas at once (each `server_args` plus ports), then `proxy` in front.

    The proxy is nginx where it is installed, else Envoy, unless `proxy` says which. Logs, the
    proxy's files and snapshots go to `folder` (default `<repository>/replicas`).
    """
    if proxy is None:
        proxy = "nginx" if find_nginx() is not None else "envoy"
    if proxy not in PROXIES:
        raise ValueError(f"proxy must be one of {PROXIES}, not {proxy!r}")
    repository = Path(repository)
    folder = Path(folder) if folder is not None else repository / "replicas"
    folder.mkdir(parents=True, exist_ok=True)
    ports = free_ports(2 * count + 2)
    replicas = [Replica(i, ports[2 * i], ports[2 * i + 1]) for i in range(count)]
    group = ReplicaSet(
        repository, list(model_names), list(server_args), folder, replicas, snapshots
    )
    try:
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(group.start_replica, range(count)))
        pairs = [(r.grpc_port, r.rest_port) for r in replicas]
        start = start_envoy if proxy == "envoy" else start_nginx
        group.proxy = start(folder / proxy, ports[-2], ports[-1], pairs)
    except BaseException:
        group.stop()
        raise
    return group
