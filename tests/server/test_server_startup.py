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
from helpers.serving.launcher import LOOPBACK, accepts_connections
from helpers.serving.replicas import free_ports
from helpers.serving.repository import write_model_repository
from helpers.serving.status_probe import model_is_available

MODEL = "summator"


def summator_server(folder: Path, grpc_port: int, rest_port: int) -> ModelServer:
    """An in-process server of the stateful summator, its model loaded, not started."""
    write_model_repository(build_summator(), folder, MODEL)
    flags = ["--model_name", MODEL, "--model_path", str(folder / MODEL), "--stateful"]
    model_server = ModelServer(
        parse_args([*flags, "--port", str(grpc_port), "--rest_port", str(rest_port)])
    )
    assert model_server.load_models()
    return model_server


def rest_ready(port: int) -> bool:
    """True when the REST API answers the model's status with 200."""
    url = f"http://{LOOPBACK}:{port}/v1/models/{MODEL}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return bool(response.status == 200)


def test_both_front_ends_listen_before_either_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    grpc_port, rest_port = free_ports(2)
    seen: dict[str, bool] = {}
    real_start_rest: Callable[..., Any] = server_module.start_rest_server

    def start_rest_watched(*args: Any, **kwargs: Any) -> Any:
        """Look at the gRPC port just before and just after REST starts."""
        seen["grpc listens before REST"] = accepts_connections(grpc_port, timeout_s=2)
        seen["grpc answers before REST"] = model_is_available(f"{LOOPBACK}:{grpc_port}", MODEL, 0.3)
        servers = real_start_rest(*args, **kwargs)
        seen["REST answers"] = rest_ready(rest_port)
        seen["grpc answers with REST"] = model_is_available(f"{LOOPBACK}:{grpc_port}", MODEL, 0.3)
        return servers

    monkeypatch.setattr(server_module, "start_rest_server", start_rest_watched)
    model_server = summator_server(tmp_path, grpc_port, rest_port)
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


def test_a_rest_port_in_use_fails_the_start_and_frees_the_grpc_port(tmp_path: Path) -> None:
    grpc_port, rest_port = free_ports(2)
    model_server = summator_server(tmp_path, grpc_port, rest_port)
    with socket.create_server((LOOPBACK, rest_port)):  # something else holds the REST port
        with pytest.raises(OSError):
            model_server.start()
        assert accepts_connections(grpc_port)  # bound by the failed start
        model_server.stop()
        assert not accepts_connections(grpc_port)
