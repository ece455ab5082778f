"""Security: loopback bind, request limits, malformed HTTP, drain on SIGTERM, repository paths.

tornado frames HTTP: a request it cannot parse gets its bare `HTTP/1.1 400 Bad Request` (no
headers, no body) and the connection closes; the JSON errors come from our own checks.
"""

import contextlib
import http.client
import json
import math
import os
import signal
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import openvino as ov
import pytest

from helpers.model_server.core.manager import ModelManager
from helpers.model_server.rest_api.http import (
    DRAIN_SECONDS,
    MAX_BODY_BYTES,
    MAX_CONNECTIONS,
    REQUEST_TIMEOUT_SECONDS,
    start_http_servers,
)
from helpers.model_server.rest_api.routing import Reply, Request
from helpers.model_server.rest_api.service import start_rest_server
from helpers.models.summator import build_summator
from helpers.serving import launcher
from helpers.serving.repository import write_config, write_model_repository
from tests.server.support.http import (
    LOOPBACK,
    exchange,
    http_request,
    listening_sockets,
    non_loopback_ipv4,
    parse_responses,
    read_until_closed,
    reset_connection,
)
from tests.server.support.models import build_slow_summator
from tests.server.support.requests import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    output,
    predict,
    predict_error,
    request,
    rest,
    summator_rest_inputs,
    summator_x,
)
from tests.server.support.servers import run_server_command, serve_repository
from tests.server.support.waiting import wait_for

NOT_FOUND = "Model with requested name is not found"
SERVED = ["summator", "link_in", "alias", "absolute"]
REFUSED_LINKS = ["linked_out", "file_link_out", "bin_link_out"]
IN_FLIGHT_SECONDS = 2.0
SLOW_ROUNDS = 16  # rounds of a 1024 x 1024 MatMul per step: about 0.25 s here, 1.5 s allowed
CANARY_START = 1000.0  # the canary summator starts from this, so serving it would show


def _symlink(link: Path, target: Path | str) -> None:
    """Create `link` -> `target`, making parent folders."""
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, link)


def build_layout(tmp: Path) -> tuple[Path, Path]:
    """A repository with symlinks in and out, and a canary model outside it: (repo, outside)."""
    repo, outside = tmp / "repo", tmp / "outside"
    write_model_repository(build_summator(CANARY_START), outside, "canary")
    write_model_repository(build_summator(), outside, "absolute")
    write_model_repository(build_summator(), repo, "summator")
    write_model_repository(build_summator(), repo, "link_in")
    _symlink(repo / "link_in" / "2", "1")  # a version folder linked inside its base path
    _symlink(repo / "alias", "summator")  # the base path itself is a link
    canary = outside / "canary" / "1"
    _symlink(repo / "linked_out" / "1", canary)
    _symlink(repo / "file_link_out" / "1" / "model.xml", canary / "model.xml")
    _symlink(repo / "file_link_out" / "1" / "model.bin", canary / "model.bin")
    write_model_repository(build_summator(), repo, "bin_link_out")
    (repo / "bin_link_out" / "1" / "model.bin").unlink()
    _symlink(repo / "bin_link_out" / "1" / "model.bin", canary / "model.bin")
    stateful = {"stateful": True, "idle_sequence_cleanup": False}
    write_config(
        repo,
        [
            {"name": "summator", **stateful},
            {"name": "escape", "base_path": "../outside/canary", **stateful},
            {"name": "escape_abs", "base_path": f"{outside}/x/../canary", **stateful},
            {"name": "absolute", "base_path": str(outside / "absolute"), **stateful},
            {"name": "link_in", **stateful},
            {"name": "alias", **stateful},
            *({"name": name, **stateful} for name in REFUSED_LINKS),
        ],
    )
    return repo, outside


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The repository and the folder outside it."""
    return build_layout(tmp_path_factory.mktemp("security"))


@pytest.fixture(scope="module")
def server(layout: tuple[Path, Path]) -> Iterator[launcher.ServerHandle]:
    """This module's own server, in config mode, default bind addresses."""
    repo, _ = layout
    with serve_repository(repo, available=SERVED, file_poll_seconds=0, debug_log=True) as handle:
        yield handle


@pytest.fixture(scope="module")
def channel(server: launcher.ServerHandle) -> Iterator[grpc.Channel]:
    """A gRPC channel to this module's server."""
    with grpc.insecure_channel(server.grpc_address) as chan:
        yield chan


class SideSequence:
    """A summator sequence stepped over gRPC beside the attacks; each output checked by cumsum."""

    def __init__(self, channel: grpc.Channel, sequence_id: int, seed: int) -> None:
        self.channel, self.sequence_id = channel, sequence_id
        self.rng = np.random.default_rng(seed)
        self.values: list[float] = []
        self.step(control=1)

    def next_value(self) -> float:
        """A small integer as float, so float32 sums are exact."""
        return float(self.rng.integers(-50, 50))

    def expected(self) -> float:
        """The running sum so far, computed by numpy."""
        return float(np.cumsum(np.array(self.values, np.float32), dtype=np.float32)[-1])

    def step(self, control: int | None = None) -> None:
        """One gRPC step; the output must equal the numpy running sum."""
        value = self.next_value()
        self.values.append(value)
        req = request("summator", summator_x(value), self.sequence_id, control)
        assert output(predict(self.channel, req))[0, 0] == self.expected()

    def rest_body(self, value: float) -> bytes:
        """A REST NO_CONTROL step for this sequence (not yet counted in `values`)."""
        inputs = summator_rest_inputs(value, self.sequence_id, 0)
        return json.dumps({"inputs": inputs}).encode()


@pytest.fixture(scope="module")
def side(channel: grpc.Channel) -> SideSequence:
    """The module's side sequence."""
    return SideSequence(channel, 424242, seed=7)


def assert_server_healthy(server: launcher.ServerHandle, side: SideSequence) -> None:
    """Still running, REST and gRPC answer, the side sequence is exact, no traceback logged."""
    assert server.is_running()
    connection = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=20)
    connection.request("GET", "/v1/models/summator")
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("Content-Type") == "application/json"
    response.read()
    connection.close()
    side.step()
    log = server.log_text()
    assert "Traceback" not in log and "Unexpected error" not in log


def json_error(response_bytes: bytes, status: int) -> str:
    """The single JSON error response in `response_bytes`, checked to have `status`."""
    (response,) = parse_responses(response_bytes)
    assert response.status == status, response
    assert response.headers["content-type"] == "application/json"
    assert response.headers.get("connection") == "close"
    body = response.json()
    assert set(body) == {"error"} and body["error"]
    return body["error"]


def bare_400(response_bytes: bytes) -> None:
    """tornado's answer to a request it cannot parse: a status line only (then it closes)."""
    assert response_bytes == b"HTTP/1.1 400 Bad Request\r\n\r\n"


def chunked(body: bytes, size: int = 7) -> bytes:
    """`body` in chunked transfer coding, in chunks of `size` bytes."""
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"


# --- 1. bind address -------------------------------------------------------------------------


def test_default_bind_is_loopback_only(server: launcher.ServerHandle) -> None:
    for port in (server.grpc_port, server.rest_port):
        listeners = listening_sockets(port)
        assert listeners and {address for address, _ in listeners} == {"127.0.0.1"}
    address = non_loopback_ipv4()
    if address is not None:  # another address of this machine refuses the connection
        for port in (server.grpc_port, server.rest_port):
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((address, port), timeout=10).close()


def test_explicit_wildcard_bind_is_honoured(layout: tuple[Path, Path]) -> None:
    repo, _ = layout
    wildcard = ["--grpc_bind_address", "0.0.0.0", "--rest_bind_address", "0.0.0.0"]
    with serve_repository(
        repo,
        model_name="summator",
        file_poll_seconds=0,
        extra_args=wildcard,
        log_path=repo.parent / "wild.log",
    ) as handle:
        for port in (handle.grpc_port, handle.rest_port):
            assert {address for address, _ in listening_sockets(port)} <= {"0.0.0.0", "::"}
            assert listening_sockets(port)
        address = non_loopback_ipv4()
        if address is not None:
            socket.create_connection((address, handle.rest_port), timeout=10).close()


# --- 2. request size and framing -------------------------------------------------------------


@pytest.mark.parametrize(
    "length",
    ["abc", "-5", "+5", "1e3", "5 5", "0x10", ""],  # "5\x0b": tornado's 400, see below
)
def test_bad_content_length_is_a_clear_400(
    server: launcher.ServerHandle, side: SideSequence, length: str
) -> None:
    value = side.next_value()
    data = http_request("POST", "/v1/models/summator:predict", headers={"Content-Length": length})
    raw, closed = exchange(server.rest_port, data + side.rest_body(value))
    assert closed
    assert json_error(raw, 400) == "Content-Length must be one non-negative integer"
    assert_server_healthy(server, side)


def test_two_content_lengths_are_refused(server: launcher.ServerHandle, side: SideSequence) -> None:
    body = side.rest_body(side.next_value())
    headers = {"Content-Length": str(len(body))}
    data = http_request("POST", "/v1/models/summator:predict", headers=headers)
    data = data.replace(b"\r\n\r\n", f"\r\nContent-Length: {len(body)}\r\n\r\n".encode(), 1)
    raw, _ = exchange(server.rest_port, data + body)
    assert json_error(raw, 400) == "Content-Length must be one non-negative integer"
    assert_server_healthy(server, side)


def test_absurd_content_length_is_413(server: launcher.ServerHandle, side: SideSequence) -> None:
    headers = {"Content-Length": "9" * 5000}  # int() would refuse this many digits
    raw, _ = exchange(
        server.rest_port, http_request("POST", "/v1/models/summator:predict", None, headers)
    )
    assert json_error(raw, 413) == "Request payload too large"
    assert_server_healthy(server, side)


def test_chunked_predict_body_is_accepted(
    server: launcher.ServerHandle, side: SideSequence
) -> None:
    value = side.next_value()
    headers = {"Transfer-Encoding": "chunked", "Connection": "close"}
    head = http_request("POST", "/v1/models/summator:predict", None, headers)
    raw, closed = exchange(server.rest_port, head + chunked(side.rest_body(value)))
    assert closed
    (response,) = parse_responses(raw)
    side.values.append(value)
    assert response.status == 200
    assert response.json()["outputs"]["y"] == [[side.expected()]]
    assert_server_healthy(server, side)


def test_chunked_body_over_the_limit_is_refused(
    server: launcher.ServerHandle, side: SideSequence
) -> None:
    headers = {"Transfer-Encoding": "chunked"}
    piece = b"x" * (1 << 20)
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=20) as sock:
        sock.sendall(http_request("POST", "/v1/models/summator:predict", None, headers))
        with contextlib.suppress(OSError):  # the server may close before all of it is sent
            for _ in range(MAX_BODY_BYTES // len(piece) + 2):
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        raw, closed = read_until_closed(sock)
    assert closed
    bare_400(raw)  # tornado's max_body_size: a bare 400, not OVMS's JSON 413
    assert_server_healthy(server, side)


def test_chunked_plus_content_length_is_never_run(
    server: launcher.ServerHandle, side: SideSequence
) -> None:
    """Request smuggling: neither the outer request nor the one inside its body is run."""
    smuggled = http_request("POST", "/v1/models/summator:predict", side.rest_body(5.0))
    body = chunked(smuggled)
    headers = {"Transfer-Encoding": "chunked", "Content-Length": str(len(body))}
    head = http_request("POST", "/v1/models/summator:predict", None, headers)
    raw, closed = exchange(server.rest_port, head + body)
    assert closed
    bare_400(raw)  # one answer: tornado refuses both framings together
    assert_server_healthy(server, side)  # the smuggled step was never applied


def test_a_request_inside_a_chunked_body_is_only_data(
    server: launcher.ServerHandle, side: SideSequence
) -> None:
    smuggled = http_request("POST", "/v1/models/summator:predict", side.rest_body(5.0))
    headers = {"Transfer-Encoding": "chunked", "Connection": "close"}
    head = http_request("POST", "/v1/models/summator:predict", None, headers)
    raw, closed = exchange(server.rest_port, head + chunked(smuggled, 64))
    assert closed
    (response,) = parse_responses(raw)  # one response: the chunks were not parsed as a request
    assert response.status == 400 and response.json() == {"error": "The file is not valid json"}
    assert_server_healthy(server, side)


def test_post_without_content_length_is_an_empty_body(
    server: launcher.ServerHandle, side: SideSequence
) -> None:
    data = http_request("POST", "/v1/models/summator:predict", None, {"Connection": "close"})
    raw, _ = exchange(server.rest_port, data)
    assert json_error(raw, 400) == "The file is not valid json"
    assert_server_healthy(server, side)


# --- 3. malformed HTTP, disconnects, slow clients ---------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"GET /\r\n\r\n",
        b"GET /v1/models/\x00\xff\xe9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /v1/models/summator HTTP/1.1 extra\r\n\r\n",
        b"GET /v1/models/summator HTTP/1.x\r\n\r\n",
        b"GET /v1/models/summator HTTP/2.0\r\n\r\n",
        b"GET /v1/models/summator HTTP/1.1\r\nHost x\r\nContent-Length: 5\r\n\r\n",
        b"GET /v1/models/summator HTTP/1.1\r\n: empty name\r\n\r\n",
        b"POST /v1/models/summator:predict HTTP/1.1\r\nContent-Length: 5\x0b\r\n\r\n{}",
        b"POST /v1/models/summator:predict HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n{}",
    ],
    ids=[
        "http09",  # http.server: 400 JSON, as all the others but two
        "nul-nonascii",  # http.server: routed, 404 JSON
        "four-words",
        "bad-version",
        "http2",  # http.server: 505 JSON
        "no-colon",
        "empty-name",
        "control-char-in-length",
        "other-transfer-coding",  # http.server: 501 JSON for any Transfer-Encoding
    ],
)
def test_malformed_requests_get_tornados_400_and_a_close(
    server: launcher.ServerHandle, side: SideSequence, data: bytes
) -> None:
    raw, closed = exchange(server.rest_port, data)
    assert closed
    bare_400(raw)
    assert_server_healthy(server, side)


@pytest.mark.parametrize(
    "data",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 garbage",
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n",
    ],
    ids=["tls-hello", "long-line", "long-header"],  # http.server: 400, 414 and 431 JSON
)
def test_unfinished_or_oversized_heads_are_closed_unanswered(
    server: launcher.ServerHandle, side: SideSequence, data: bytes
) -> None:
    """tornado reads at most 64 KiB of head; a head that never ends is read until the close."""
    raw, closed = exchange(server.rest_port, data, half_close=True)
    assert closed and raw == b""
    assert_server_healthy(server, side)


def test_many_headers_within_the_head_limit_are_served(
    server: launcher.ServerHandle, side: SideSequence
) -> None:
    """tornado counts the head's bytes (64 KiB), not its lines (http.server refused 101 lines)."""
    data = b"GET /v1/models/summator HTTP/1.1\r\n" + b"X-Many: 1\r\n" * 101
    data += b"Connection: close\r\n\r\n"
    (response,) = parse_responses(exchange(server.rest_port, data)[0])
    assert response.status == 200
    assert_server_healthy(server, side)


def test_unsupported_methods_get_a_json_501(
    server: launcher.ServerHandle, side: SideSequence
) -> None:
    raw, closed = exchange(server.rest_port, b"FROBNICATE /v1/models/summator HTTP/1.1\r\n\r\n")
    assert closed
    assert json_error(raw, 501) == "Unsupported method ('FROBNICATE')"
    assert_server_healthy(server, side)


def test_body_cut_short_is_never_run(server: launcher.ServerHandle, side: SideSequence) -> None:
    body = side.rest_body(side.next_value())  # a complete, valid step...
    data = http_request("POST", "/v1/models/summator:predict", None)
    data = data.replace(b"\r\n\r\n", f"\r\nContent-Length: {len(body) + 10}\r\n\r\n".encode())
    raw, closed = exchange(server.rest_port, data + body, half_close=True)  # ...10 bytes longer
    # http.server answered 400 JSON; tornado takes the end of the input as the client leaving.
    assert closed and raw == b""
    assert_server_healthy(server, side)  # the step was not applied


def test_body_cut_short_by_a_reset_leaves_the_server_healthy(
    server: launcher.ServerHandle, side: SideSequence
) -> None:
    body = side.rest_body(side.next_value())
    data = http_request("POST", "/v1/models/summator:predict", None)
    data = data.replace(b"\r\n\r\n", f"\r\nContent-Length: {len(body) + 10}\r\n\r\n".encode())
    sock = socket.create_connection(("127.0.0.1", server.rest_port), timeout=20)
    sock.sendall(data + body)
    time.sleep(0.2)
    reset_connection(sock)
    assert_server_healthy(server, side)


def test_client_closing_before_the_reply_gets_its_step_applied_once(
    server: launcher.ServerHandle, side: SideSequence
) -> None:
    answered = '"POST /v1/models/summator:predict HTTP/1.1" 200'  # the DEBUG access log
    for _ in range(2):
        before = server.log_text().count(answered)
        value = side.next_value()
        sock = socket.create_connection(("127.0.0.1", server.rest_port), timeout=20)
        sock.sendall(http_request("POST", "/v1/models/summator:predict", side.rest_body(value)))
        sock.close()
        side.values.append(value)
        wait_for(
            lambda: server.log_text().count(answered) != before,  # noqa: B023 (called at once)
            30,
            "the request to be answered",
            interval=0.05,
        )
    assert_server_healthy(server, side)  # exact only if each step was applied exactly once


def test_silent_and_stalled_clients_do_not_disturb(
    server: launcher.ServerHandle, side: SideSequence
) -> None:
    silent = socket.create_connection(("127.0.0.1", server.rest_port), timeout=20)
    stalled = socket.create_connection(("127.0.0.1", server.rest_port), timeout=20)
    stalled.sendall(b"POST /v1/models/summator:predict HTTP/1.1\r\nHost: x\r\nContent-Le")
    assert_server_healthy(server, side)  # served while both connections hang
    silent.close()
    reset_connection(stalled)
    assert_server_healthy(server, side)


def test_pipelined_keep_alive_requests_are_answered_in_order(
    server: launcher.ServerHandle, side: SideSequence
) -> None:
    values = [side.next_value() for _ in range(3)]
    data = b"".join(
        http_request("POST", "/v1/models/summator:predict", side.rest_body(v)) for v in values
    )
    data += http_request("GET", "/v1/models/summator", None, {"Connection": "close"})
    raw, closed = exchange(server.rest_port, data, linger=None)
    assert closed
    responses = parse_responses(raw)
    assert [r.status for r in responses] == [200, 200, 200, 200]
    side.values.extend(values)
    expected = np.cumsum(np.array(side.values, np.float32), dtype=np.float32)[-3:]
    assert [r.json()["outputs"]["y"][0][0] for r in responses[:3]] == expected.tolist()
    assert_server_healthy(server, side)


def get_unknown_model(port: int, host: str = LOOPBACK) -> tuple[bytes, bool]:
    """GET a model an empty manager does not serve, on a fresh connection: (bytes, closed)."""
    data = http_request("GET", "/v1/models/m", None, {"Connection": "close"})
    return exchange(port, data, timeout=30, host=host)


def test_stalled_client_is_dropped_after_the_handler_timeout() -> None:
    assert 30 <= REQUEST_TIMEOUT_SECONDS <= 120  # production: long enough for slow clients
    port = launcher.free_port()
    (rest_server,) = start_rest_server(ModelManager(ov.Core()), ["127.0.0.1"], port, timeout=1.0)
    try:
        for partial in (b"", b"GET /v1/models/m HTTP/1.1\r\nHost", b"POST / HTTP/1.1\r\n"):
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(
                    partial + (b"Content-Length: 9\r\n\r\n{" if partial[:4] == b"POST" else b"")
                )
                started = time.monotonic()
                raw, closed = read_until_closed(sock)
                assert closed and raw == b"" and time.monotonic() - started < 25
        raw, _ = get_unknown_model(port)  # still serving
        assert json_error(raw, 404) == NOT_FOUND
    finally:
        rest_server.stop_and_drain()


def test_connections_over_the_cap_get_a_clear_503_and_others_carry_on() -> None:
    """Idle connections hold places; past the cap new ones are refused, not queued forever."""
    assert 64 <= MAX_CONNECTIONS <= 4096
    port = launcher.free_port()
    (rest_server,) = start_rest_server(
        ModelManager(ov.Core()), ["127.0.0.1"], port, max_connections=3
    )
    idle = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(3)]
    try:
        # The IOLoop accepts in order and counts each connection as it accepts it.
        raw, closed = get_unknown_model(port)
        assert closed
        assert json_error(raw, 503) == "Too many open connections; try again later"
        idle.pop().close()  # one place frees up (once the IOLoop sees the close)
        replies: list[bytes] = []

        def served_again() -> bool:
            replies.append(get_unknown_model(port)[0])
            return not replies[-1].startswith(b"HTTP/1.1 503 ")

        wait_for(served_again, 30, "the freed place to be taken", interval=0.1)
        assert json_error(replies[-1], 404) == NOT_FOUND
    finally:
        for sock in idle:
            sock.close()
        rest_server.stop_and_drain(timeout=0.5)


def test_rest_binds_an_ipv6_address() -> None:
    if not socket.has_ipv6 or not listening_sockets_possible("::1"):
        pytest.skip("no IPv6 loopback")
    port = launcher.free_port()
    (rest_server,) = start_rest_server(ModelManager(ov.Core()), ["::1"], port)
    try:
        assert {address for address, _ in listening_sockets(port)} == {"::1"}
        raw, _ = get_unknown_model(port, host="::1")
        assert json_error(raw, 404) == NOT_FOUND
    finally:
        rest_server.stop_and_drain()


def test_rest_on_the_ipv6_any_address_also_answers_ipv4() -> None:
    """`::` is dual-stack, as it was before tornado and as gRPC's `[::]` is."""
    if not socket.has_ipv6 or not listening_sockets_possible("::1"):
        pytest.skip("no IPv6 loopback")
    port = launcher.free_port()
    (rest_server,) = start_rest_server(ModelManager(ov.Core()), ["::"], port)
    try:
        assert {address for address, _ in listening_sockets(port)} == {"::"}
        for host in ("127.0.0.1", "::1"):
            raw, _ = get_unknown_model(port, host=host)
            assert json_error(raw, 404) == NOT_FOUND, host
    finally:
        rest_server.stop_and_drain()


def test_rest_on_ipv6_any_next_to_an_ipv4_address_stays_ipv6_only() -> None:
    """With an IPv4 address on the same port, a dual-stack `::` could not bind: IPv6 only."""
    if not socket.has_ipv6 or not listening_sockets_possible("::1"):
        pytest.skip("no IPv6 loopback")
    port = launcher.free_port()
    servers = start_rest_server(ModelManager(ov.Core()), ["127.0.0.1", "::"], port)
    try:
        assert sorted(address for address, _ in listening_sockets(port)) == ["127.0.0.1", "::"]
        for host in ("127.0.0.1", "::1"):
            raw, _ = get_unknown_model(port, host=host)
            assert json_error(raw, 404) == NOT_FOUND, host
    finally:
        for rest_server in servers:
            rest_server.stop_and_drain()


def listening_sockets_possible(address: str) -> bool:
    """True when a TCP socket can bind `address` here."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind((address, 0))
    except OSError:
        return False
    return True


def test_a_route_sees_every_method_and_writes_its_own_bytes_and_headers() -> None:
    """The routing seam another API (KServe v2) plugs into: any method, raw bytes both ways."""
    seen: list[Request] = []

    def route(request: Request) -> Reply:
        seen.append(request)
        headers = {"Inference-Header-Content-Length": "2"}
        return Reply(200, b"{}\x00\x01", headers, content_type="application/octet-stream")

    port = launcher.free_port()
    (rest_server,) = start_http_servers(route, ["127.0.0.1"], port, 5.0, 8)
    body = b'{"a": 1}\x00\xff'
    data = http_request("POST", "/v2/x/infer?q=1", body, {"Inference-Header-Content-Length": "8"})
    data = data.replace(b"\r\n\r\n", b"\r\nX-Twice: 1\r\nX-Twice: 2\r\n\r\n", 1)
    data += http_request("OPTIONS", "/v2", None, {"Connection": "close"})
    try:
        raw, closed = exchange(port, data, linger=None)
        head, _ = exchange(port, http_request("HEAD", "/v2", None, {"Connection": "close"}))
    finally:
        rest_server.stop_and_drain()
    assert closed
    posted = seen[0]
    assert (posted.method, posted.path, posted.query, posted.body) == (
        "POST",
        "/v2/x/infer",
        "q=1",
        body,
    )
    assert posted.header("inference-header-content-length") == "8"
    assert posted.headers["x-twice"] == "1,2" and posted.client_host == "127.0.0.1"
    assert [request.method for request in seen] == ["POST", "OPTIONS", "HEAD"]
    for response in parse_responses(raw):
        assert response.status == 200 and response.body == b"{}\x00\x01"
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.headers["inference-header-content-length"] == "2"
    assert b"\r\nContent-Length: 4\r\n" in head and head.endswith(b"\r\n\r\n")  # no body


# --- 4. REST drain on SIGTERM ----------------------------------------------------------------


def rest_step(
    base: str, name: str, value: float, sequence_id: int, control: int
) -> tuple[int, dict]:
    """One summator-like REST step on its own connection."""
    inputs = summator_rest_inputs(value, sequence_id, control)
    return rest(base, f"/v1/models/{name}:predict", {"inputs": inputs}, timeout=60)


def test_sigterm_drains_rest_requests_in_flight(tmp_path: Path) -> None:
    slow = {"slow": build_slow_summator(rounds=SLOW_ROUNDS)}
    with serve_repository(tmp_path, slow, model_name="slow", file_poll_seconds=0) as handle:
        for control in (1, 0):  # warm up, then time one step
            started = time.monotonic()
            assert rest_step(handle.rest_url, "slow", 1.0, 1, control)[0] == 200
        step_seconds = time.monotonic() - started
        # Queue enough requests to stay in flight for about 2 s: longer than the accept loop's
        # 0.5 s poll, which is all an undrained stop would wait, and within the drain bound.
        count = max(2, min(16, math.ceil(IN_FLIGHT_SECONDS / step_seconds)))
        assert count * step_seconds < 0.6 * DRAIN_SECONDS, f"one step takes {step_seconds:.2f} s"
        rng = np.random.default_rng(3)
        firsts, seconds = rng.integers(-50, 50, count), rng.integers(-50, 50, count)
        for i in range(count):
            assert rest_step(handle.rest_url, "slow", float(firsts[i]), 100 + i, 1)[0] == 200
        results: dict[int, tuple[int, dict]] = {}
        sent = threading.Barrier(count + 1)

        def in_flight(i: int) -> None:
            inputs = summator_rest_inputs(float(seconds[i]), 100 + i, 0)
            connection = http.client.HTTPConnection("127.0.0.1", handle.rest_port, timeout=60)
            connection.request("POST", "/v1/models/slow:predict", json.dumps({"inputs": inputs}))
            sent.wait()
            try:
                response = connection.getresponse()
                results[i] = response.status, json.loads(response.read())
            except OSError as error:  # cut off: recorded, so the assertion below names it
                results[i] = 0, {"error": repr(error)}
            connection.close()

        threads = [threading.Thread(target=in_flight, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        sent.wait(30)
        wait_for(
            lambda: not any(backlog for _, backlog in listening_sockets(handle.rest_port)),
            20,
            "the requests to be accepted",
            interval=0.01,
        )
        assert handle.process is not None
        signalled = time.monotonic()
        handle.process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(60)
        exit_code = handle.process.wait(60)
        drain_seconds = time.monotonic() - signalled
        expected = np.cumsum(
            np.stack([firsts, seconds]).astype(np.float32), axis=0, dtype=np.float32
        )[-1]
        assert sorted(results) == list(range(count))
        for i in range(count):
            assert results[i] == (
                200,
                {"outputs": {"y": [[float(expected[i])]], "sequence_id": [100 + i]}},
            )
        assert exit_code == 0, handle.log_text()[-2000:]
        assert "Traceback" not in handle.log_text()
        print(
            f"step {step_seconds:.3f} s, {count} in flight, SIGTERM to exit {drain_seconds:.2f} s"
        )


# --- 5. paths in config.json and on the command line ------------------------------------------


def rest_get(port: int, path: str) -> tuple[int, dict]:
    """A raw GET (no client-side path normalisation); returns (status, JSON body)."""
    raw, _ = exchange(port, http_request("GET", path, None, {"Connection": "close"}))
    (response,) = parse_responses(raw)
    assert response.headers["content-type"] == "application/json"
    return response.status, response.json()


def run_sequence(base: str, name: str, sequence_id: int) -> None:
    """A short REST sequence on `name`; its outputs must be the numpy running sums."""
    values = np.random.default_rng(sequence_id).integers(-50, 50, 4).astype(np.float32)
    got = [
        rest_step(base, name, float(v), sequence_id, 1 if i == 0 else 0)
        for i, v in enumerate(values)
    ]
    assert all(status == 200 for status, _ in got)
    assert [body["outputs"]["y"][0][0] for _, body in got] == np.cumsum(
        values, dtype=np.float32
    ).tolist()


def test_dotdot_base_path_in_config_is_refused_others_load(
    server: launcher.ServerHandle, layout: tuple[Path, Path]
) -> None:
    _, outside = layout
    log = server.log_text()
    assert "Path ../outside/canary escape with .. is forbidden." in log
    assert f"Path {outside}/x/../canary escape with .. is forbidden." in log
    for name in ("escape", "escape_abs"):
        assert rest_get(server.rest_port, f"/v1/models/{name}") == (404, {"error": NOT_FOUND})
    for name in SERVED:  # relative, absolute and symlinked base paths keep working
        run_sequence(server.rest_url, name, 5000 + SERVED.index(name))


@pytest.mark.parametrize("name", REFUSED_LINKS)
def test_symlinks_leaving_the_base_path_are_refused(
    server: launcher.ServerHandle, layout: tuple[Path, Path], name: str
) -> None:
    repo, outside = layout
    status, body = rest_get(server.rest_port, f"/v1/models/{name}")
    assert status == 200
    (version,) = body["model_version_status"]
    assert version["version"] == "1" and version["state"] != "AVAILABLE"
    assert rest_step(server.rest_url, name, 1.0, 1, 1)[0] == 404
    assert f"Refusing {repo / name / '1'}" in server.log_text()
    assert str(outside / "canary" / "1") in server.log_text()


def test_symlinks_inside_the_base_path_are_served(server: launcher.ServerHandle) -> None:
    status, body = rest_get(server.rest_port, "/v1/models/link_in")
    states = {v["version"]: v["state"] for v in body["model_version_status"]}
    assert status == 200 and states == {"2": "AVAILABLE"}
    run_sequence(server.rest_url, "link_in", 6001)
    run_sequence(server.rest_url, "alias", 6002)


def test_dotdot_model_path_on_the_command_line_fails_start(layout: tuple[Path, Path]) -> None:
    repo, _ = layout
    model_path = f"{repo}/alias/../summator"
    args = ["--model_name", "s", "--model_path", model_path]
    result = run_server_command(*args, "--port", str(launcher.free_port()), "--stateful")
    log = result.stdout + result.stderr
    assert f"Path {model_path} escape with .. is forbidden." in log
    assert result.returncode == 1, log[-2000:]


# --- 6. nothing in a request loads or runs a file ---------------------------------------------


def path_like_names(outside: Path) -> list[str]:
    """Model names that look like paths, including real files outside the repository."""
    canary = outside / "canary"
    return [
        "../summator",
        "summator/../summator",
        "./summator",
        str(canary),
        str(canary / "1" / "model.xml"),
        "%2e%2e%2fsummator",
        "../../../../etc/passwd",
        "/etc/passwd",
        "config.json",
    ]


def model_status_code(channel: grpc.Channel, name: str) -> grpc.StatusCode:
    """The gRPC status of GetModelStatus for `name`."""
    req = get_model_status_pb2.GetModelStatusRequest()
    req.model_spec.name = name
    try:
        model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(req, timeout=20)
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def test_path_like_model_names_over_grpc_are_just_unknown_names(
    server: launcher.ServerHandle, channel: grpc.Channel, layout: tuple[Path, Path]
) -> None:
    loads = server.log_text().count("Loading model")
    for name in path_like_names(layout[1]):
        assert predict_error(channel, request(name, summator_x(1.0))) == (
            grpc.StatusCode.NOT_FOUND,
            NOT_FOUND,
        )
        assert model_status_code(channel, name) == grpc.StatusCode.NOT_FOUND
    assert server.log_text().count("Loading model") == loads


def test_path_like_urls_over_rest_are_just_unknown_names(
    server: launcher.ServerHandle, channel: grpc.Channel, layout: tuple[Path, Path]
) -> None:
    loads = server.log_text().count("Loading model")
    quoted = [urllib.parse.quote(name, safe="") for name in path_like_names(layout[1])]
    paths = [f"/v1/models/{q}" for q in quoted] + [f"/v1/models/{q}:predict" for q in quoted]
    paths += [
        "/v1/models/..%2F..%2Fetc%2Fpasswd",
        "/v1/models/../summator",
        "/v1/models/summator/../../config.json",
        "/config.json",
        "/../../etc/passwd",
        "/v1/models/summator/versions/1/../../../../config.json",
    ]
    invalid_url = {"error": "Invalid request URL"}
    for path in paths:
        for method in ("GET", "POST"):
            data = http_request(
                method, path, b"{}" if method == "POST" else None, {"Connection": "close"}
            )
            (response,) = parse_responses(exchange(server.rest_port, data)[0])
            assert response.status in (404, 405), (path, response)
            assert response.json() in (
                {"error": NOT_FOUND},
                invalid_url,
                {"error": "Unsupported method"},
            )
    assert model_status_code(channel, str(layout[1] / "canary")) == grpc.StatusCode.NOT_FOUND
    assert server.log_text().count("Loading model") == loads
