"""Conformance: version folders and config.json changes are picked up; reloads drop sequences."""

import json
import shutil

import grpc
import pytest

from helpers.models.summator import build_summator
from helpers.serving import launcher
from helpers.serving.repository import write_config
from tests.server.support.requests import (
    END,
    START,
    output,
    predict,
    predict_error,
    request,
    summator_x,
)
from tests.server.support.servers import serve_repository
from tests.server.support.waiting import wait_for

POLL_SECONDS = 1
RELOAD_SECONDS = 10.0  # the longest wait for a change to take effect


@pytest.fixture(scope="module")
def reload_server(tmp_path_factory):
    """A summator served from a config.json that the server polls every second."""
    root = tmp_path_factory.mktemp("reload_repo")
    models = {"summator": build_summator()}
    config: list[dict[str, object]] = [{"name": "summator", "stateful": True}]
    with serve_repository(root, models, config, file_poll_seconds=POLL_SECONDS) as handle:
        yield handle, root


def is_missing(chan, sequence_id, version=None):
    """True when NO_CONTROL for the id says SEQUENCE_MISSING."""
    try:
        predict(chan, request("summator", summator_x(0.0), sequence_id, version=version))
    except grpc.RpcError as error:
        return error.details() == "Sequence with provided ID does not exist"
    return False


def test_new_versions_and_config_changes_reload_and_drop_sequences(reload_server):
    handle, root = reload_server
    with grpc.insecure_channel(handle.grpc_address) as chan:
        predict(chan, request("summator", summator_x(1.0), 10, START))
        # A new version folder becomes the default; the sequence lived on version 1.
        shutil.copytree(root / "summator" / "1", root / "summator" / "2")
        wait_for(lambda: is_missing(chan, 10), RELOAD_SECONDS, "version 2 to replace 1")
        code, details = predict_error(chan, request("summator", summator_x(1.0), 10, version=1))
        assert (code, details) == (
            grpc.StatusCode.NOT_FOUND,
            "Model with requested version is retired",
        )
        assert output(predict(chan, request("summator", summator_x(4.0), 11, START)))[0, 0] == 4.0

        # A config change (max_sequence_number) reloads the version and drops its sequences.
        write_config(root, [{"name": "summator", "stateful": True, "max_sequence_number": 7}])
        wait_for(lambda: is_missing(chan, 11), RELOAD_SECONDS, "the config change")

        # Flipping `stateful` is refused: the model keeps serving as stateful.
        write_config(root, [{"name": "summator", "stateful": False}])
        refused = "Model type cannot be changed after it is loaded"
        wait_for(lambda: refused in handle.log_text(), RELOAD_SECONDS, "the refusal")
        predict(chan, request("summator", summator_x(2.0), 12, START))
        assert output(predict(chan, request("summator", summator_x(3.0), 12, END)))[0, 0] == 5.0

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
        skipped = "Stateful model config parameter used for non stateful model"
        wait_for(lambda: skipped in handle.log_text(), RELOAD_SECONDS, "the skipped model")
        wait_for(
            lambda: launcher.model_is_available(handle.grpc_address, "plain"),
            RELOAD_SECONDS,
            "the model `plain`",
        )
        assert not launcher.model_is_available(handle.grpc_address, "other")
        plain = predict(chan, request("plain", summator_x(2.0)))
        assert output(plain)[0, 0] >= 2.0 and "sequence_id" not in plain.outputs
    assert handle.is_running()
