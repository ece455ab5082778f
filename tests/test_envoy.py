"""The real Envoy, run with the routes of deploy/kubernetes/routing.yaml, in front of stand-in
backends that report who they are: sticky by `x-sequence-id` for TFS Predict, KServe ModelInfer, a
ModelStreamInfer stream and REST; refusals answered by Envoy itself; a dead backend; a tidy stop.
Which backend answered is what the backend says, never what the code under test says."""

import http.client
import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest
import yaml

from helpers.serving.calls import rest_call, rpc_failure
from helpers.serving.envoy import (
    INSTALL_HINT,
    REPLICA_DOWN_DETAILS,
    EnvoyHandle,
    LoggedRequest,
    find_envoy,
    read_access_log,
    start_envoy,
)
from helpers.serving.gateway_routes import ROUTING_MANIFEST
from helpers.serving.launcher import LOOPBACK
from helpers.serving.nginx import MISSING_ID_MESSAGE
from helpers.serving.replicas import free_ports

# CI installs Envoy from the pinned wheel: there a missing Envoy fails instead of skipping.
pytestmark = pytest.mark.skipif(
    find_envoy() is None and not os.environ.get("CI"), reason=INSTALL_HINT
)
BACKENDS = 3
HEADER = "x-sequence-id"
PREDICT = "/tensorflow.serving.PredictionService/Predict"
MODEL_INFER = "/inference.GRPCInferenceService/ModelInfer"
STREAM_INFER = "/inference.GRPCInferenceService/ModelStreamInfer"
MODEL_STATUS = "/tensorflow.serving.ModelService/GetModelStatus"
TIMEOUT = 10.0


def _answer(index: int, path: str, metadata: tuple) -> bytes:
    """What every stand-in says: which backend it is, what was called, with which id."""
    headers = dict(metadata)
    return json.dumps({"backend": index, "path": path, "id": headers.get(HEADER)}).encode()


class _AnyMethod(grpc.GenericRpcHandler):
    """A gRPC stand-in answering every method (bytes in, bytes out), streams message by message."""

    def __init__(self, index: int) -> None:
        self.index = index

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        """A handler for whatever `details.method` is."""
        path, metadata = details.method, tuple(details.invocation_metadata)
        if path == STREAM_INFER:
            return grpc.stream_stream_rpc_method_handler(
                lambda requests, _: (_answer(self.index, path, metadata) for _ in requests)
            )
        return grpc.unary_unary_rpc_method_handler(
            lambda _, __: _answer(self.index, path, metadata)
        )


class _RestAnswer(BaseHTTPRequestHandler):
    """A REST stand-in: every GET or POST gets the backend's answer as JSON."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, each answer waits for a delayed ACK.
    disable_nagle_algorithm = True
    index = -1

    def do_GET(self) -> None:
        """Answer."""
        body = _answer(self.index, self.path, ((HEADER, self.headers.get(HEADER)),))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        """Read the body, then answer."""
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.do_GET()

    def log_message(self, *args: object) -> None:
        """Quiet."""


@dataclass
class Front:
    """Envoy in front of the stand-ins, and the stand-ins' ports."""

    envoy: EnvoyHandle
    grpc_servers: list[grpc.Server]
    grpc_ports: list[int]
    rest_ports: list[int]

    @property
    def address(self) -> str:
        """Envoy's gRPC address."""
        return f"{LOOPBACK}:{self.envoy.grpc_port}"

    @property
    def url(self) -> str:
        """Envoy's REST base URL."""
        return f"http://{LOOPBACK}:{self.envoy.rest_port}"


@contextmanager
def running_front(folder: Path) -> Iterator[Front]:
    """Three gRPC and three REST stand-ins behind the real Envoy, its files in `folder`."""
    ports = free_ports(2 * BACKENDS + 2)
    grpc_ports, rest_ports = ports[:BACKENDS], ports[BACKENDS : 2 * BACKENDS]
    servers = []
    for index, port in enumerate(grpc_ports):
        server = grpc.server(ThreadPoolExecutor(4), handlers=[_AnyMethod(index)])
        server.add_insecure_port(f"{LOOPBACK}:{port}")
        server.start()
        servers.append(server)
    rest_servers = []
    for index, port in enumerate(rest_ports):
        handler = type("Handler", (_RestAnswer,), {"index": index})
        rest_server = ThreadingHTTPServer((LOOPBACK, port), handler)
        threading.Thread(target=rest_server.serve_forever, daemon=True).start()
        rest_servers.append(rest_server)
    pairs = list(zip(grpc_ports, rest_ports, strict=True))
    envoy = start_envoy(folder, ports[-2], ports[-1], pairs)
    try:
        yield Front(envoy, servers, grpc_ports, rest_ports)
    finally:
        envoy.stop()
        for server in servers:
            server.stop(0)
        for rest_server in rest_servers:
            rest_server.shutdown()
            rest_server.server_close()


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    """Stand-ins behind Envoy, shared by the tests that leave them as they were."""
    with running_front(tmp_path_factory.mktemp("envoy")) as shared:
        yield shared


@pytest.fixture
def own_front(tmp_path: Path) -> Iterator[Front]:
    """Stand-ins behind Envoy for a test that stops one of them, or Envoy."""
    with running_front(tmp_path) as own:
        yield own


def unary(channel: grpc.Channel, path: str, sequence_id: str | None) -> dict:
    """One unary call through Envoy; the stand-in's answer."""
    metadata = () if sequence_id is None else ((HEADER, sequence_id),)
    answer = channel.unary_unary(path)(b"request", timeout=TIMEOUT, metadata=metadata)
    return json.loads(answer)


def stream(channel: grpc.Channel, sequence_id: str | None, messages: int) -> list[dict]:
    """One ModelStreamInfer stream of `messages` requests through Envoy; the answers."""
    metadata = () if sequence_id is None else ((HEADER, sequence_id),)
    call = channel.stream_stream(STREAM_INFER)
    answers = call(iter([b"request"] * messages), timeout=TIMEOUT, metadata=metadata)
    return [json.loads(answer) for answer in answers]


def logged(envoy: EnvoyHandle, count: int, since: int = 0) -> list[LoggedRequest]:
    """The requests logged after the first `since`, once there are `count` of them."""
    deadline = time.monotonic() + 10
    while len(requests := read_access_log(envoy.access_log)[since:]) < count:
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    return requests


def test_grpc_calls_of_one_sequence_reach_one_backend_whatever_the_method(front):
    ids = [str(i) for i in (1, 7, 42, 1000, 2**40, 2**63 + 5, *range(100, 112))]
    before = len(read_access_log(front.envoy.access_log))
    answers: dict[str, list[dict]] = {}
    with grpc.insecure_channel(front.address) as channel:
        for i in ids:
            answers[i] = [unary(channel, PREDICT, i), unary(channel, MODEL_INFER, i)]
            answers[i] += [unary(channel, PREDICT, i), *stream(channel, i, 3)]
    for i in ids:
        assert len({a["backend"] for a in answers[i]}) == 1, answers[i]
        assert {a["id"] for a in answers[i]} == {i}
    homes = {i: answers[i][0]["backend"] for i in ids}
    assert len(set(homes.values())) > 1, "every id went to one backend"
    # The access log names the backend each answer came from.
    requests = logged(front.envoy, 4 * len(ids), before)
    by_id = {(r.sequence_id, r.path) for r in requests}
    assert {(i, STREAM_INFER) for i in ids} <= by_id
    for request in requests:
        assert request.port == front.envoy.grpc_port and request.grpc_status == "0"
        assert request.upstream == f"{LOOPBACK}:{front.grpc_ports[homes[str(request.sequence_id)]]}"


def test_rest_calls_of_one_sequence_reach_one_backend(front):
    ids = [str(i) for i in range(1, 21)]
    before = len(read_access_log(front.envoy.access_log))
    homes = {}
    for i in ids:
        backends = set()
        for path in (
            "/v1/models/m:predict",
            "/v1/models/m/versions/2:predict",
            "/v2/models/m/infer",
        ):
            status, body = rest_call(f"{front.url}{path}", {"inputs": []}, headers={HEADER: i})
            assert (status, body["path"], body["id"]) == (200, path, i)
            backends.add(body["backend"])
        assert len(backends) == 1
        homes[i] = backends.pop()
    assert len(set(homes.values())) > 1, "every id went to one backend"
    for request in logged(front.envoy, 3 * len(ids), before):
        assert request.port == front.envoy.rest_port
        assert request.upstream == f"{LOOPBACK}:{front.rest_ports[homes[str(request.sequence_id)]]}"


@pytest.mark.parametrize("bad", [None, "", "0", "abc", "-5", "12x", "1" * 21])
def test_calls_without_a_routable_id_are_refused_by_envoy(front, bad):
    refused = ("INVALID_ARGUMENT", MISSING_ID_MESSAGE)
    before = len(read_access_log(front.envoy.access_log))
    with grpc.insecure_channel(front.address) as channel:
        assert rpc_failure(lambda: unary(channel, PREDICT, bad)) == refused
        assert rpc_failure(lambda: unary(channel, MODEL_INFER, bad)) == refused
        assert rpc_failure(lambda: stream(channel, bad, 2)) == refused
        # Other methods need no id: any backend answers.
        assert unary(channel, MODEL_STATUS, bad)["path"] == MODEL_STATUS
    headers = {} if bad is None else {HEADER: bad}
    for path in ("/v1/models/m:predict", "/v2/models/m/versions/1/infer"):
        body = {"inputs": []}
        assert rest_call(f"{front.url}{path}", body, headers=headers) == (
            400,
            {"error": MISSING_ID_MESSAGE},
        )
    assert rest_call(f"{front.url}/v1/models/m", headers=headers)[1]["path"] == "/v1/models/m"
    status, body = rest_call(f"{front.url}/admin/models/m/sequences", headers=headers)
    assert status == 403 and "per replica" in body["error"]
    requests = logged(front.envoy, 8, before)
    reached = [False] * 3 + [True] + [False] * 2 + [True, False]  # the order of the calls above
    assert [r.upstream is not None for r in requests] == reached


def test_the_sequences_of_a_dead_backend_get_unavailable_and_the_others_go_on(own_front):
    front = own_front
    ids = [str(i) for i in range(1, 31)]
    with grpc.insecure_channel(front.address) as channel:
        homes = {i: unary(channel, PREDICT, i)["backend"] for i in ids}
        victim = homes["1"]
        lost = [i for i in ids if homes[i] == victim]
        front.grpc_servers[victim].stop(0).wait()
        for i in ids:
            call: Callable[[], object] = lambda i=i: unary(channel, PREDICT, i)  # noqa: E731
            if i in lost:
                # No retry and no other backend: the sequence's state is only on its own. (The
                # first call may still meet the closing connection, with other details.)
                assert rpc_failure(call)[0] == "UNAVAILABLE"
                assert rpc_failure(call) == ("UNAVAILABLE", REPLICA_DOWN_DETAILS)
            else:
                assert unary(channel, PREDICT, i)["backend"] == homes[i]
    requests = logged(front.envoy, 2 * len(ids) + len(lost))
    failed = [r for r in requests if r.grpc_status == "14"]
    assert sorted(r.sequence_id for r in failed) == sorted(lost * 2)
    assert all(r.upstream is None for r in failed[1::2])  # each second call found no backend


def test_envoy_stops_gracefully_through_its_admin_port(own_front):
    front = own_front
    assert front.envoy.is_running()
    front.envoy.stop()
    assert front.envoy.process.returncode == 0  # a kill after the wait would be negative
    front.envoy.stop()  # twice is fine


@contextmanager
def envoy_with_policy(
    folder: Path,
    policy_name: str,
    change: Callable[[dict], None],
    pairs: list[tuple[int, int]],
    ports: list[int],
) -> Iterator[EnvoyHandle]:
    """Envoy on `ports` (gRPC, REST) over backend `pairs`, one policy changed by `change`."""
    documents = [d for d in yaml.safe_load_all(ROUTING_MANIFEST.read_text(encoding="utf-8")) if d]
    [policy] = [d for d in documents if d["metadata"]["name"] == policy_name]
    change(policy["spec"])
    manifest = folder / "routing.yaml"
    manifest.write_text(yaml.safe_dump_all(documents), encoding="utf-8")
    grpc_port, rest_port = ports
    envoy = start_envoy(folder / "envoy", grpc_port, rest_port, pairs, manifest)
    try:
        yield envoy
    finally:
        envoy.stop()


def test_a_rest_response_override_answers_for_a_dead_backend(front, tmp_path):
    down = {"error": "that replica is down"}
    override = {
        "match": {"statusCodes": [{"type": "Value", "value": 503}]},
        "response": {
            "contentType": "application/json",
            "body": {"type": "Inline", "inline": json.dumps(down)},
        },
    }
    # One call for all three: ports asked for apart may be the same, and Envoy would then send
    # the dead backend's requests to itself.
    nobody, *front_ports = free_ports(3)
    rest_ports = [front.rest_ports[0], nobody, front.rest_ports[2]]
    pairs = list(zip(front.grpc_ports, rest_ports, strict=True))
    policy = "sticky-sequences-rest"
    with envoy_with_policy(
        tmp_path, policy, lambda s: s.update(responseOverride=[override]), pairs, front_ports
    ) as envoy:
        url = f"http://{LOOPBACK}:{envoy.rest_port}/v1/models/m:predict"
        answers = {
            i: rest_call(url, {"inputs": []}, headers={HEADER: i}) for i in map(str, range(1, 31))
        }
    answered = {i: body["backend"] for i, (status, body) in answers.items() if status == 200}
    refused = [i for i, answer in answers.items() if answer == (503, down)]
    assert set(answered.values()) == {0, 2}
    assert refused and sorted(refused + list(answered)) == sorted(answers)


def test_a_stream_quiet_for_longer_than_the_stream_idle_timeout_is_ended(front, tmp_path):
    def idle_for_one_second(spec: dict) -> None:
        spec.setdefault("timeout", {}).setdefault("http", {})["streamIdleTimeout"] = "1s"

    pairs = list(zip(front.grpc_ports, front.rest_ports, strict=True))
    outcomes = []
    with (
        envoy_with_policy(
            tmp_path, "sticky-sequences-grpc", idle_for_one_second, pairs, free_ports(2)
        ) as envoy,
        grpc.insecure_channel(f"{LOOPBACK}:{envoy.grpc_port}") as channel,
    ):
        for quiet in (0.2, 2.0):
            requests: queue.Queue[bytes | None] = queue.Queue()
            call = channel.stream_stream(STREAM_INFER)
            answers = call(iter(requests.get, None), metadata=((HEADER, "9"),))
            requests.put(b"request")
            next(answers)
            time.sleep(quiet)
            requests.put(b"request")
            try:
                outcomes.append(json.loads(next(answers))["id"])
            except grpc.RpcError as error:
                outcomes.append(error.code().name)
            requests.put(None)
    assert outcomes == ["9", "INTERNAL"]  # Envoy resets the stream that stayed quiet


def rest_backends(port: int, ids: list[str]) -> dict[str, int]:
    """The stand-in that answers a REST predict with each of `ids`, over one connection."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=TIMEOUT)
    backends = {}
    for i in ids:
        connection.request("POST", "/v1/models/m:predict", b"{}", {HEADER: i})
        backends[i] = json.loads(connection.getresponse().read())["backend"]
    connection.close()
    return backends


def test_a_backend_back_at_a_new_address_does_not_get_its_own_ids_back(front, tmp_path):
    """Why the manifests hash the pods' own Services (fixed cluster IPs), not the pods' addresses.

    Envoy's Maglev places each backend by its address. A pod that restarts usually gets a new one:
    then only part of its ids hash to it again, and some of the other pods' ids move to it, so
    sequences land where they do not exist. Measured here with a stand-in at a new port.
    """
    ids = [str(n) for n in range(1, 301)]
    rest_new, grpc_new, *envoy_ports = free_ports(6)
    handler = type("Handler", (_RestAnswer,), {"index": BACKENDS})
    moved_backend = ThreadingHTTPServer((LOOPBACK, rest_new), handler)
    threading.Thread(target=moved_backend.serve_forever, daemon=True).start()
    pairs = list(zip(front.grpc_ports, front.rest_ports, strict=True))
    homes = []
    try:
        for run, backends in enumerate((pairs, [*pairs[:-1], (grpc_new, rest_new)])):
            ports = envoy_ports[2 * run : 2 * run + 2]
            (tmp_path / str(run)).mkdir()
            unchanged = "sticky-sequences-rest", lambda spec: None
            with envoy_with_policy(tmp_path / str(run), *unchanged, backends, ports) as envoy:
                url = f"http://{LOOPBACK}:{envoy.rest_port}/v1/models/m:predict"
                homes.append(
                    {i: rest_call(url, {}, headers={HEADER: i})[1]["backend"] for i in ids}
                )
    finally:
        moved_backend.shutdown()
        moved_backend.server_close()
    before, after = homes
    own = [i for i in ids if before[i] == BACKENDS - 1]
    others = [i for i in ids if before[i] != BACKENDS - 1]
    back_home = sum(after[i] == BACKENDS for i in own) / len(own)
    taken_over = sum(after[i] == BACKENDS for i in others) / len(others)
    assert back_home < 0.75, back_home  # 0.40 to 0.58 in five runs
    assert taken_over > 0.1, taken_over  # 0.22 to 0.32 in five runs
