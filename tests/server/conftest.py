"""Fixtures: model repositories and real server processes (launcher-started, always stopped)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from srv_models import CLEANER_SECONDS, MAIN_MODELS, build_dummy, build_tensor_iterator_lstm

from helpers.models.summator import build_summator
from helpers.serving import launcher
from helpers.serving.repository import write_config, write_model_repository


def build_repository(root: Path) -> Path:
    """A repository with summator, dummy and a one-step TensorIterator LSTM, version 1 each."""
    write_model_repository(build_summator(), root, "summator")
    write_model_repository(build_dummy(), root, "dummy")
    write_model_repository(build_tensor_iterator_lstm(steps=1), root, "ti_ll")
    return root


@pytest.fixture(scope="session")
def main_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[launcher.ServerHandle]:
    """One server for most conformance tests: several models from one config.json."""
    root = build_repository(tmp_path_factory.mktemp("main_repo"))
    write_config(root, MAIN_MODELS)
    args = launcher.model_server_args(root, config=True)
    args += ["--sequence_cleaner_poll_wait_seconds", str(CLEANER_SECONDS)]
    args += ["--file_system_poll_wait_seconds", "0", "--log_level", "DEBUG"]
    names = [str(m["name"]) for m in MAIN_MODELS]
    handle = launcher.start_server(root, names, args)
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def channel(main_server: launcher.ServerHandle) -> Iterator[grpc.Channel]:
    """A gRPC channel to the main server."""
    with grpc.insecure_channel(main_server.grpc_address) as chan:
        yield chan
