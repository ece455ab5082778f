"""The server's start: both front ends listen before either answers, so a client that saw a model
AVAILABLE over one protocol never has a connection refused on the other (seen once in CI: REST
refused just after gRPC reported the model AVAILABLE, when gRPC started first)."""

import socket
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from helpers.model_server import server as server_module
from helpers.model_server.config.cli import parse_args
from helpers.model_server.server import ModelServer
from helpers.models.summator import build_summator
from helpers.serving.launcher import LOOPBACK
from helpers.serving.replicas import free_ports
from helpers.serving.repository import write_model_repository
from helpers.serving.status_probe import model_is_available

MODEL = "summator"


def accepts_connections(port: int) -> bool:
    """True when the kernel accepts a TCP connection to the loopback port (its listen queue)."""
    try:
        socket.create_connection((LOOPBACK, port), timeout=2).close()
    except ConnectionRefusedError:
        return False
    return True


def rest_ready(port: int) -> bool:
    """True when the REST API answers the model's status with 200."""
    url = f"http://{LOOPBACK}:{port}/v1/models/{MODEL}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return bool(response.status == 200)


def test_both_front_ends_listen_before_either_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_model_repository(build_summator(), tmp_path, MODEL)
    grpc_port, rest_port = free_ports(2)
    flags = ["--model_name", MODEL, "--model_path", str(tmp_path / MODEL), "--stateful"]
    flags += ["--port", str(grpc_port), "--rest_port", str(rest_port)]
    seen: dict[str, bool] = {}
    real_start_rest: Callable[..., Any] = server_module.start_rest_server

    def start_rest_watched(*args: Any, **kwargs: Any) -> Any:
        """Look at the gRPC port just before and just after REST starts."""
        seen["grpc listens before REST"] = accepts_connections(grpc_port)
        seen["grpc answers before REST"] = model_is_available(f"{LOOPBACK}:{grpc_port}", MODEL, 0.3)
        servers = real_start_rest(*args, **kwargs)
        seen["REST answers"] = rest_ready(rest_port)
        seen["grpc answers with REST"] = model_is_available(f"{LOOPBACK}:{grpc_port}", MODEL, 0.3)
        return servers

    monkeypatch.setattr(server_module, "start_rest_server", start_rest_watched)
    model_server = ModelServer(parse_args(flags))
    assert model_server.load_models()
    try:
        model_server.start()
        assert model_is_available(f"{LOOPBACK}:{grpc_port}", MODEL, 5)
    finally:
        model_server.refuse_new_requests()
        model_server.stop()
    assert seen == {
        "grpc listens before REST": True,
        "grpc answers before REST": False,
        "REST answers": True,
        "grpc answers with REST": False,
    }
    with pytest.raises(grpc.FutureTimeoutError):  # and it is stopped
        grpc.channel_ready_future(grpc.insecure_channel(f"{LOOPBACK}:{grpc_port}")).result(0.5)
