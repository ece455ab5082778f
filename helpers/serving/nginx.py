"""nginx in front of model server replicas: find it, write its config, run it without root.

Used by `helpers.serving.replicas` (notebook 12, the replica tests and benchmark). Every request of
a sequence carries its id in the `x-sequence-id` header (gRPC metadata is an HTTP/2 header), and
`hash $http_x_sequence_id consistent;` sends every request with one id to one replica. The routed
calls are TFS Predict and KServe ModelInfer / ModelStreamInfer (gRPC), `:predict` and KServe
`/infer` (REST), the same as the Gateway API routes Envoy gets. Such a call without a usable id is
refused by nginx itself: a server-assigned id would only exist after START, on whichever replica
answered, and the next step could not be routed there.
"""

import json
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from helpers.serving.child_process import tied_to_parent, wait_or_kill
from helpers.serving.launcher import LOOPBACK, accepts_connections

INSTALL_HINT = (
    "nginx is not installed. On Debian or Ubuntu: 'sudo apt-get install -y nginx' (or 'make nginx' "
    "as root); on macOS: 'brew install nginx'; on Windows: nginx for Windows from nginx.org, its "
    "folder on PATH. On Binder it comes from apt.txt."
)
MISSING_ID_MESSAGE = (
    "Behind the proxy every call of a sequence (Predict, ModelInfer, ModelStreamInfer, REST "
    "predict or infer) needs an x-sequence-id header (gRPC metadata) holding the sequence id, 1 "
    "to 18446744073709551615: choose the id before START, server-assigned ids cannot be routed"
)
REPLICA_DOWN_MESSAGE = (
    "The replica that holds this sequence is not reachable; retry when it is back"
)
# One access log line per request: which sequence, which replica answered, with what status.
LOG_FORMAT = (
    "$msec|$server_port|$http_x_sequence_id|$upstream_addr|$status|"
    "$upstream_trailer_grpc_status|$sent_http_grpc_status|$request_uri"
)
# The calls that belong to a sequence: nginx location regexes, the same paths the Gateway API
# routes match (deploy/kubernetes/routing.yaml).
SEQUENCE_GRPC_PATHS = (
    r"^/(tensorflow\.serving\.PredictionService/Predict"
    r"|inference\.GRPCInferenceService/Model(Stream)?Infer)$"
)
SEQUENCE_REST_PATHS = (
    r"^/v1/models/[^/]+(/versions/[0-9]+)?:predict$|^/v2/models/[^/]+(/versions/[^/]+)?/infer$"
)
# A ModelStreamInfer stream may stay open, and quiet, for as long as its sequences run.
STREAM_TIMEOUT = "24h"
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
# Bodies stay in memory: as root, nginx's workers run as `nobody`, which may not enter the folder.
MAX_BODY = "64m"


def find_nginx() -> str | None:
    """The nginx executable on PATH or in /usr/sbin (not on a user's PATH everywhere), or None."""
    found = shutil.which("nginx")
    if found:
        return found
    fallback = Path("/usr/sbin/nginx")
    return str(fallback) if os.access(fallback, os.X_OK) else None


def _upstream(name: str, ports: Sequence[int], sticky: bool) -> str:
    """An upstream block: hashed by sequence id (never marked failed) or round robin."""
    rule = "    hash $http_x_sequence_id consistent;\n" if sticky else ""
    servers = "".join(f"    server {LOOPBACK}:{port} max_fails=0;\n" for port in ports)
    return f"upstream {name} {{\n{rule}{servers}    keepalive 32;\n}}\n"


def _grpc_answer(status: int, message: str) -> str:
    """A location body where nginx itself answers a gRPC call with `status` and `message`."""
    return (
        "default_type application/grpc;\n"
        f"        add_header grpc-status {status};\n"
        f'        add_header grpc-message "{message}";\n'
        "        return 204;"
    )


def _json_answer(status: int, message: str) -> str:
    """A location body where nginx itself answers a REST call with a JSON error."""
    body = json.dumps({"error": message})
    return f"default_type application/json;\n        return {status} '{body}';"


def nginx_config(
    folder: Path, grpc_port: int, rest_port: int, replicas: Sequence[tuple[int, int]]
) -> str:
    """nginx.conf for a front on `grpc_port`/`rest_port` over replicas' (gRPC, REST) ports."""
    folder_path = folder.as_posix()  # nginx for Windows reads C:/x, not C:\x
    grpc_ports = [grpc for grpc, _ in replicas]
    rest_ports = [rest for _, rest in replicas]
    temp = "".join(f"    {n}_temp_path {folder_path}/temp/{n};\n" for n in TEMP_PATHS)
    upstreams = "".join(
        _upstream(name, ports, sticky)
        for name, ports, sticky in (
            ("grpc_by_sequence", grpc_ports, True),
            ("grpc_any", grpc_ports, False),
            ("rest_by_sequence", rest_ports, True),
            ("rest_any", rest_ports, False),
        )
    )
    return f"""daemon off;
worker_processes 1;
pid {folder_path}/nginx.pid;
error_log {folder_path}/error.log warn;
events {{ worker_connections 1024; }}
http {{
{temp}    log_format sequences '{LOG_FORMAT}';
    access_log {folder_path}/access.log sequences;
    client_max_body_size {MAX_BODY};
    client_body_buffer_size {MAX_BODY};
    map $http_x_sequence_id $sequence_id_ok {{
        "~^[1-9][0-9]{{0,19}}$" 1;
        default 0;
    }}
{upstreams}
    server {{
        listen {LOOPBACK}:{grpc_port} http2;
        # Never to another replica: it does not hold the sequence, and a START placed there
        # would be lost when the home replica is back.
        grpc_next_upstream off;
        location ~ "{SEQUENCE_GRPC_PATHS}" {{
            error_page 418 = @missing_id;
            error_page 502 504 = @replica_down;
            if ($sequence_id_ok = 0) {{ return 418; }}
            grpc_read_timeout {STREAM_TIMEOUT};
            grpc_send_timeout {STREAM_TIMEOUT};
            client_body_timeout {STREAM_TIMEOUT};
            grpc_pass grpc://grpc_by_sequence;
        }}
        location / {{
            grpc_pass grpc://grpc_any;
        }}
        location @missing_id {{
        {_grpc_answer(3, MISSING_ID_MESSAGE)}
        }}
        location @replica_down {{
        {_grpc_answer(14, REPLICA_DOWN_MESSAGE)}
        }}
    }}
    server {{
        listen {LOOPBACK}:{rest_port};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_buffering off;
        proxy_next_upstream off;
        location ~ "{SEQUENCE_REST_PATHS}" {{
            error_page 418 = @missing_id;
            error_page 502 504 = @replica_down;
            if ($sequence_id_ok = 0) {{ return 418; }}
            proxy_pass http://rest_by_sequence;
        }}
        location /admin/ {{
        {_json_answer(403, "Introspection is per replica: ask each replica on its own REST port")}
        }}
        location / {{
            proxy_pass http://rest_any;
        }}
        location @missing_id {{
        {_json_answer(400, MISSING_ID_MESSAGE)}
        }}
        location @replica_down {{
        {_json_answer(503, REPLICA_DOWN_MESSAGE)}
        }}
    }}
}}
"""


@dataclass(eq=False)
class NginxHandle:
    """A running nginx: its folder (config, logs) and process."""

    folder: Path
    grpc_port: int
    rest_port: int
    process: subprocess.Popen
    command: list[str] = field(default_factory=list)
    _output: TextIO | None = field(default=None, repr=False)

    @property
    def access_log(self) -> Path:
        """The access log (format LOG_FORMAT)."""
        return self.folder / "access.log"

    def is_running(self) -> bool:
        """True while the nginx master has not exited."""
        return self.process.poll() is None

    def stop(self) -> None:
        """Stop nginx (`nginx -s quit`, graceful on every OS; killed after 10 s); safe twice."""
        if self.process.poll() is None:
            asked = subprocess.run(
                [*self.command, "-s", "quit"], capture_output=True, check=False, timeout=10
            )
            wait_or_kill(self.process, 10 if asked.returncode == 0 else 0)
        if self._output is not None:
            self._output.close()
            self._output = None


def start_nginx(
    folder: Path,
    grpc_port: int,
    rest_port: int,
    replicas: Sequence[tuple[int, int]],
    wait_seconds: float = 15.0,
) -> NginxHandle:
    """Write the config into `folder`, check it (`nginx -t`), start nginx, wait for its ports."""
    executable = find_nginx()
    if executable is None:
        raise FileNotFoundError(INSTALL_HINT)
    folder.mkdir(parents=True, exist_ok=True)
    for name in TEMP_PATHS:
        (folder / "temp" / name).mkdir(parents=True, exist_ok=True)
    config = folder / "nginx.conf"
    config.write_text(nginx_config(folder, grpc_port, rest_port, replicas), encoding="utf-8")
    # -e: the start-up error log too, before the config is read (the default may not be writable).
    command = [executable, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(config)]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
    if checked.returncode != 0:
        raise RuntimeError(f"nginx refused its config:\n{checked.stderr}")
    output = (folder / "nginx.out").open("w", encoding="utf-8")
    process = subprocess.Popen(
        tied_to_parent(command),
        stdout=output,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    handle = NginxHandle(folder, grpc_port, rest_port, process, command, output)
    deadline = time.monotonic() + wait_seconds
    while not (accepts_connections(grpc_port) and accepts_connections(rest_port)):
        if process.poll() is not None or time.monotonic() > deadline:
            handle.stop()
            log = (folder / "error.log").read_text(encoding="utf-8", errors="replace")
            raise RuntimeError(f"nginx did not start:\n{log[-2000:]}")
        time.sleep(0.05)
    return handle
