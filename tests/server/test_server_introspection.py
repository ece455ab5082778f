"""Sequence introspection (ours): the loopback-only `/admin/models/{model}/sequences` routes."""

import json
import urllib.request
from collections.abc import Iterator

import grpc
import numpy as np
import pytest

from helpers.model_server.rest_api.admin import INTROSPECTION_OFF, is_loopback
from helpers.models.recurrent import build_stateful_lstm_cell, random_lstm_weights
from helpers.models.recurrent_reference import lstm_reference
from helpers.models.summator import build_summator
from helpers.serving import launcher
from helpers.serving.protocol import EXACT_F32, UINT64_MAX
from tests.server.support.http import exchange, http_request, non_loopback_ipv4, parse_responses
from tests.server.support.models import build_dummy
from tests.server.support.requests import (
    START,
    output,
    predict,
    predict_error,
    request,
    rest,
    summator_x,
)
from tests.server.support.servers import serve_repository

WEIGHTS = random_lstm_weights(3, 5, seed=2)
MISSING = (grpc.StatusCode.NOT_FOUND, "Sequence with provided ID does not exist")
CONFIG: list[dict[str, object]] = [
    {"name": "summator", "stateful": True, "idle_sequence_cleanup": False},
    {"name": "lstm", "stateful": True, "idle_sequence_cleanup": False, "plugin_config": EXACT_F32},
    {"name": "dummy"},
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[launcher.ServerHandle]:
    """A server with introspection on, serving the summator, an LSTM cell and a stateless model."""
    models = {
        "summator": build_summator(),
        "lstm": build_stateful_lstm_cell(WEIGHTS),
        "dummy": build_dummy(),
    }
    with serve_repository(
        tmp_path_factory.mktemp("introspection"),
        models,
        CONFIG,
        file_poll_seconds=0,
        extra_args=["--sequence_introspection"],
    ) as handle:
        yield handle


@pytest.fixture(scope="module")
def channel(server: launcher.ServerHandle) -> Iterator[grpc.Channel]:
    """A gRPC channel to the introspection server."""
    with grpc.insecure_channel(server.grpc_address) as chan:
        yield chan


def admin(base: str, path: str, method: str = "GET") -> tuple[int, dict]:
    """One admin call; (HTTP status, JSON body)."""
    req = urllib.request.Request(base + "/admin/models/" + path, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        assert error.headers["Content-Type"] == "application/json"
        return error.code, json.loads(error.read())


def summator_steps(channel: grpc.Channel, sequence_id: int, values: list[float]) -> float:
    """START then NO_CONTROL steps; the last output."""
    y = 0.0
    for index, value in enumerate(values):
        control = START if index == 0 else None
        y = float(
            output(predict(channel, request("summator", summator_x(value), sequence_id, control)))[
                0, 0
            ]
        )
    return y


def test_off_by_default_every_route_says_how_to_turn_it_on(main_server):
    for path, method in [
        ("summator/sequences", "GET"),
        ("summator/sequences/1", "GET"),
        ("summator/sequences/1", "DELETE"),
        ("nope/sequences", "GET"),
    ]:
        assert admin(main_server.rest_url, path, method) == (404, {"error": INTROSPECTION_OFF})


def test_the_list_shows_every_live_sequence_sorted_by_id(server, channel):
    rng = np.random.default_rng(3)
    plans = {UINT64_MAX: 2, 500_001: 4, 500_000: 1}
    for sequence_id, steps in plans.items():
        summator_steps(channel, sequence_id, list(rng.integers(-9, 10, steps).astype(float)))
    status, body = admin(server.rest_url, "summator/sequences")
    assert status == 200 and body["model"] == "summator"
    rows = [row for row in body["sequences"] if int(row["sequence_id"]) in plans]
    assert [row["sequence_id"] for row in rows] == ["500000", "500001", "18446744073709551615"]
    ids = [int(row["sequence_id"]) for row in body["sequences"]]
    assert ids == sorted(ids)
    for row in rows:
        assert row["version"] == 1 and row["steps"] == plans[int(row["sequence_id"])]
        assert row["state_bytes"] == 4  # one float32 [1,1] variable
        assert 0.0 <= row["idle_seconds"] < 60.0


def test_a_state_read_equals_the_numpy_running_sum(server, channel, core):
    values = [3.0, -1.5, 10.25, 7.0]
    summator_steps(channel, 600_000, values)
    status, body = admin(server.rest_url, "summator/sequences/600000")
    assert status == 200
    assert (body["model"], body["sequence_id"], body["version"], body["steps"]) == (
        "summator",
        "600000",
        1,
        4,
    )
    names = {
        state.name
        for state in core.compile_model(build_summator()).create_infer_request().query_state()
    }
    assert set(body["states"]) == names
    (state,) = body["states"].values()
    assert state["dtype"] == "float32" and state["shape"] == [1, 1]
    assert state["values"] == [[float(np.cumsum(values, dtype=np.float32)[-1])]]


def test_an_lstm_state_read_equals_the_numpy_lstm(server, channel):
    xs = np.random.default_rng(4).standard_normal((5, 3)).astype(np.float32)
    for t in range(len(xs)):
        control = START if t == 0 else None
        predict(channel, request("lstm", {"x": xs[t : t + 1]}, 77, control))
    _, h, c = lstm_reference(xs, WEIGHTS, np.zeros(5), np.zeros(5))
    status, body = admin(server.rest_url, "lstm/sequences/77")
    assert status == 200 and body["steps"] == 5
    assert {name: state["shape"] for name, state in body["states"].items()} == {
        "h": [1, 5],
        "c": [1, 5],
    }
    np.testing.assert_allclose(body["states"]["h"]["values"], [h], atol=1e-5)
    np.testing.assert_allclose(body["states"]["c"]["values"], [c], atol=1e-5)


def test_delete_ends_the_sequence(server, channel):
    assert summator_steps(channel, 700_000, [1.0, 2.0]) == 3.0
    status, body = admin(server.rest_url, "summator/sequences/700000", "DELETE")
    assert (status, body) == (200, {"model": "summator", "sequence_id": "700000", "ended": True})
    assert predict_error(channel, request("summator", summator_x(1.0), 700_000)) == MISSING
    assert admin(server.rest_url, "summator/sequences/700000")[0] == 404
    assert admin(server.rest_url, "summator/sequences/700000", "DELETE") == (
        404,
        {"error": "Sequence 700000 of model summator does not exist"},
    )
    # The id is free again: START begins from zero.
    assert summator_steps(channel, 700_000, [5.0]) == 5.0


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("nope/sequences", "Model nope is not served"),
        ("nope/sequences/1", "Model nope is not served"),
        ("dummy/sequences", "Model dummy is not stateful: it has no sequences"),
        ("summator/sequences/123456789", "Sequence 123456789 of model summator does not exist"),
        ("summator/sequences/abc", "Sequence abc of model summator does not exist"),
        ("summator/sequences/0", "Sequence 0 of model summator does not exist"),
        (
            "summator/sequences/18446744073709551616",
            "Sequence 18446744073709551616 of model summator does not exist",
        ),
        ("summator/other", "Unknown admin route: /admin/models/summator/other"),
    ],
)
def test_unknown_models_and_sequences_are_a_404_naming_them(server, path, error):
    assert admin(server.rest_url, path) == (404, {"error": error})


def test_other_methods_are_refused_and_the_tfs_routes_are_unchanged(server, channel):
    raw, _ = exchange(
        server.rest_port, http_request("POST", "/admin/models/summator/sequences", b"{}")
    )
    (response,) = parse_responses(raw)
    assert response.status == 405
    raw, _ = exchange(server.rest_port, http_request("DELETE", "/v1/models/summator"))
    assert parse_responses(raw)[0].status == 501  # as before: http.server's unsupported method
    assert rest(server.rest_url, "/v1/models/summator")[0] == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.5.6.7", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("192.168.1.20", False),
        ("::ffff:10.0.0.1", False),
        ("fe80::1%eth0", False),
        ("0.0.0.0", False),
        ("not an address", False),
    ],
)
def test_only_loopback_addresses_pass_the_check(host, loopback):
    assert is_loopback(host) is loopback


def test_a_client_on_another_address_gets_403(tmp_path):
    address = non_loopback_ipv4()
    if address is None:
        pytest.skip("this machine has no IPv4 address outside 127.0.0.0/8")
    with serve_repository(
        tmp_path,
        {"summator": build_summator()},
        model_name="summator",
        file_poll_seconds=0,
        extra_args=["--sequence_introspection", "--rest_bind_address", f"127.0.0.1,{address}"],
    ) as handle:
        url = f"http://{address}:{handle.rest_port}"
        assert admin(url, "summator/sequences") == (
            403,
            {"error": "Sequence introspection is answered only to loopback clients"},
        )
        assert admin(url, "summator/sequences/1", "DELETE")[0] == 403
        assert rest(url, "/v1/models/summator")[0] == 200  # the TFS API is served there
        assert admin(handle.rest_url, "summator/sequences") == (
            200,
            {"model": "summator", "sequences": []},
        )
