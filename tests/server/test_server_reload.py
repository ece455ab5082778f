"""Conformance: version folders and config.json changes are picked up; reloads drop sequences."""

import json
import shutil
import time

import grpc
import pytest
from srv_tfs import END, START, output, predict, predict_error, request, x

from helpers.models.summator import build_summator
from helpers.serving import launcher
from helpers.serving.repository import write_config, write_model_repository

POLL_SECONDS = 1


@pytest.fixture(scope="module")
def reload_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("reload_repo")
    write_model_repository(build_summator(), root, "summator")
    write_config(root, [{"name": "summator", "stateful": True}])
    args = launcher.model_server_args(root, config=True)
    args += ["--file_system_poll_wait_seconds", str(POLL_SECONDS)]
    handle = launcher.start_server(root, ["summator"], args)
    yield handle, root
    handle.stop()


def wait_for(condition, seconds=10.0):
    """Poll until condition() is true (reloads happen on the server's own poll timer)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def is_missing(chan, sequence_id, version=None):
    """True when NO_CONTROL for the id says SEQUENCE_MISSING."""
    try:
        predict(chan, request("summator", x(0.0), sequence_id, version=version))
    except grpc.RpcError as error:
        return error.details() == "Sequence with provided ID does not exist"
    return False


def test_reload_flow(reload_server):
    handle, root = reload_server
    with grpc.insecure_channel(handle.grpc_address) as chan:
        predict(chan, request("summator", x(1.0), 10, START))
        # A new version folder becomes the default; the sequence lived on version 1.
        shutil.copytree(root / "summator" / "1", root / "summator" / "2")
        wait_for(lambda: is_missing(chan, 10))
        code, details = predict_error(chan, request("summator", x(1.0), 10, version=1))
        assert (code, details) == (
            grpc.StatusCode.NOT_FOUND,
            "Model with requested version is retired",
        )
        assert output(predict(chan, request("summator", x(4.0), 11, START)))[0, 0] == 4.0

        # A config change (max_sequence_number) reloads the version and drops its sequences.
        write_config(root, [{"name": "summator", "stateful": True, "max_sequence_number": 7}])
        wait_for(lambda: is_missing(chan, 11))

        # Flipping `stateful` is refused: the model keeps serving as stateful.
        write_config(root, [{"name": "summator", "stateful": False}])
        wait_for(lambda: "Model type cannot be changed after it is loaded" in handle.log_text())
        predict(chan, request("summator", x(2.0), 12, START))
        assert output(predict(chan, request("summator", x(3.0), 12, END)))[0, 0] == 5.0

        # A stateful-only key on a stateless model: that model is skipped, the others load.
        (root / "config.json").write_text(
            json.dumps(
                {
                    "model_config_list": [
                        {"config": {"name": "summator", "stateful": True}},
                        {
                            "config": {
                                "name": "other",
                                "base_path": "summator",
                                "max_sequence_number": 5,
                            }
                        },
                        {"config": {"name": "plain", "base_path": "summator"}},
                    ]
                }
            )
        )
        wait_for(
            lambda: (
                "Stateful model config parameter used for non stateful model" in handle.log_text()
            )
        )
        wait_for(lambda: launcher.model_is_available(handle.grpc_address, "plain"))
        assert not launcher.model_is_available(handle.grpc_address, "other")
        plain = predict(chan, request("plain", x(2.0)))
        assert output(plain)[0, 0] >= 2.0 and "sequence_id" not in plain.outputs
    assert handle.is_running()
