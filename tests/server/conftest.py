"""Fixtures: the main server (most conformance tests share it) and a channel to it."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from collections.abc import Iterator

import grpc
import pytest

from helpers.models.summator import build_summator
from helpers.serving import launcher
from tests.server.support.models import (
    MAIN_CLEANER_SECONDS,
    MAIN_MODELS,
    build_dummy,
    build_tensor_iterator_lstm,
)
from tests.server.support.servers import serve_repository


@pytest.fixture(scope="session")
def main_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[launcher.ServerHandle]:
    """One server for most conformance tests: several models from one config.json."""
    models = {
        "summator": build_summator(),
        "dummy": build_dummy(),
        "ti_ll": build_tensor_iterator_lstm(steps=1),
    }
    with serve_repository(
        tmp_path_factory.mktemp("main_repo"),
        models,
        MAIN_MODELS,
        cleaner_seconds=MAIN_CLEANER_SECONDS,
        file_poll_seconds=0,
        debug_log=True,
    ) as handle:
        yield handle


@pytest.fixture(scope="session")
def channel(main_server: launcher.ServerHandle) -> Iterator[grpc.Channel]:
    """A gRPC channel to the main server."""
    with grpc.insecure_channel(main_server.grpc_address) as chan:
        yield chan
