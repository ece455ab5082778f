"""Replicas behind a sticky proxy, every test against nginx and against Envoy: routing by
`x-sequence-id` for TFS Predict and KServe ModelInfer / ModelStreamInfer (gRPC) and both REST APIs,
refusals, a killed replica, a rolling restart with snapshots. Every output is checked against a
NumPy running sum; every route against the proxy's access log and, independently, against each
replica's own list of the sequences it holds (introspection on its own port)."""

import json
import os
import queue
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton  # type: ignore[import-untyped]  # it ships no type information
from tritonclient.grpc import service_pb2, service_pb2_grpc

from helpers.models.summator import build_summator
from helpers.serving.calls import rest_call, rpc_failure
from helpers.serving.client import StatefulSequence, predict_request
from helpers.serving.envoy import INSTALL_HINT as ENVOY_INSTALL_HINT
from helpers.serving.envoy import find_envoy
from helpers.serving.nginx import (
    INSTALL_HINT,
    MISSING_ID_MESSAGE,
    REPLICA_DOWN_MESSAGE,
    find_nginx,
    start_nginx,
)
from helpers.serving.protocol import EXACT_F32, SEQUENCE_ID_HEADER, Control
from helpers.serving.replicas import Replica, ReplicaSet, Route, free_ports, start_replicas
from helpers.serving.repository import write_model_repository

# CI installs nginx (.ci/run, `make nginx`) and Envoy (the pinned wheel): there a missing proxy
# fails instead of skipping.
CI = bool(os.environ.get("CI"))
NGINX_MISSING = pytest.mark.skipif(find_nginx() is None and not CI, reason=INSTALL_HINT)
ENVOY_MISSING = pytest.mark.skipif(find_envoy() is None and not CI, reason=ENVOY_INSTALL_HINT)
PROXIES = [pytest.param("nginx", marks=NGINX_MISSING), pytest.param("envoy", marks=ENVOY_MISSING)]
MODEL = "summator"
REPLICAS = 3
NOT_FOUND = "Sequence with provided ID does not exist"
TIMEOUT = 30.0
RETRIED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
# What a client of a sequence whose replica is down gets: nginx's own message, Envoy's own text
# (over REST, the manifests may map Envoy's 503 to nginx's JSON with a responseOverride).
ENVOY_DOWN = (
    "upstream connect error or disconnect/reset before headers. reset reason: remote connection "
    "failure"
)
REPLICA_DOWN_GRPC = {"nginx": REPLICA_DOWN_MESSAGE, "envoy": ENVOY_DOWN}
REPLICA_DOWN_JSON = json.dumps({"error": REPLICA_DOWN_MESSAGE})
REPLICA_DOWN_REST = {"nginx": (REPLICA_DOWN_JSON,), "envoy": (ENVOY_DOWN, REPLICA_DOWN_JSON)}


@pytest.fixture(scope="module", params=PROXIES)
def proxy(request: pytest.FixtureRequest) -> Literal["nginx", "envoy"]:
    """The proxy in front of the replicas."""
    return request.param


@pytest.fixture(scope="module")
def group(
    proxy: Literal["nginx", "envoy"], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ReplicaSet]:
    """Three summator replicas (snapshots at SIGTERM, introspection, KServe sequences) behind it."""
    root = tmp_path_factory.mktemp(f"replicas-{proxy}")
    write_model_repository(build_summator(), root, MODEL)
    args = ["--model_name", MODEL, "--model_path", str(root / MODEL), "--stateful"]
    args += ["--plugin_config", json.dumps(EXACT_F32), "--sequence_introspection"]
    args += ["--kserve_sequence_extension"]
    with start_replicas(root, [MODEL], args, REPLICAS, snapshots=True, proxy=proxy) as replicas:
        yield replicas


def sequence_ids(count: int, seed: int) -> list[int]:
    """`count` different random ids below 2**63, so that nobody else's ids collide."""
    rng = np.random.default_rng(seed)
    return [int(i) for i in rng.choice(2**63 - 1, size=count, replace=False) + 1]


def routed_by(sequence_id: int) -> dict[str, str]:
    """The header (gRPC metadata) a proxy routes this sequence's calls by."""
    return {SEQUENCE_ID_HEADER: str(sequence_id)}


def x(value: float) -> dict[str, np.ndarray]:
    """The summator's one input."""
    return {"x": np.full((1, 1), value, np.float32)}


def x_of(value: float) -> list[triton.InferInput]:
    """The summator's one input, for tritonclient."""
    tensor = triton.InferInput("x", [1, 1], "FP32")
    tensor.set_data_from_numpy(np.full((1, 1), value, np.float32))
    return [tensor]


def routes_of(group: ReplicaSet, ids: list[int]) -> dict[int, list[Route]]:
    """The logged requests that carried one of `ids`."""
    wanted = {str(i): i for i in ids}
    routes: dict[int, list[Route]] = defaultdict(list)
    for route in group.routes():
        if route.sequence_id in wanted:
            routes[wanted[route.sequence_id]].append(route)
    return routes


def wait_for_log(group: ReplicaSet, ids: list[int], requests: int) -> dict[int, list[Route]]:
    """The routes of `ids` once the proxy logged `requests` of them (it logs after answering)."""
    deadline = time.monotonic() + 20
    while True:
        routes = routes_of(group, ids)
        if sum(map(len, routes.values())) >= requests or time.monotonic() > deadline:
            return routes
        time.sleep(0.05)


def held_sequences(group: ReplicaSet, ids: list[int]) -> dict[int, tuple[int, int]]:
    """(replica, steps applied) of each live sequence of `ids`, as the replicas list them."""
    held = {}
    for replica in group.replicas:
        status, body = rest_call(f"{replica.rest_url}/admin/models/{MODEL}/sequences")
        assert status == 200, body
        held.update({int(s["sequence_id"]): (replica.index, s["steps"]) for s in body["sequences"]})
    return {i: held[i] for i in ids if i in held}


def assert_one_replica_each(
    group: ReplicaSet, ids: list[int], calls: int, protocol: str
) -> dict[int, int]:
    """Each sequence's `calls` logged requests all reached one replica, with success; its index."""
    routes = wait_for_log(group, ids, calls * len(ids))
    assert sorted(len(routes[i]) for i in ids) == [calls] * len(ids)
    served_by = {i: {r.replica for r in routes[i]} for i in ids}
    assert {r.protocol for i in ids for r in routes[i]} == {protocol}
    if protocol == "grpc":
        assert {r.grpc_status for i in ids for r in routes[i]} == {"0"}
    else:
        assert {r.http_status for i in ids for r in routes[i]} == {200}
    homes = {}
    for i in ids:
        (replica,) = served_by[i]
        assert replica is not None
        homes[i] = replica
    return homes


def assert_log_and_replicas_agree(
    group: ReplicaSet, ids: list[int], calls: int, protocol: str
) -> dict[int, int]:
    """With every sequence open after `calls` steps: the log's replica is the one holding it."""
    homes = assert_one_replica_each(group, ids, calls, protocol)
    assert held_sequences(group, ids) == {i: (homes[i], calls) for i in ids}
    return homes


def test_routes_reads_each_complete_log_line_once(tmp_path: Path) -> None:
    # routes() reads only what the proxy added since its last call; a line still being written
    # waits for its end. The lines are in nginx's `sequences` format.
    log = tmp_path / "access.log"
    replicas = [Replica(0, grpc_port=11, rest_port=21), Replica(1, grpc_port=12, rest_port=22)]
    group = ReplicaSet(tmp_path, [MODEL], [], tmp_path, replicas)
    group.proxy = LogOnlyProxy(tmp_path, grpc_port=1, rest_port=2, access_log=log)
    lines = [
        "t|1|7|127.0.0.1:11|200|0|-|/tensorflow.serving.PredictionService/Predict",
        "t|2|8|127.0.0.1:22|200|-|-|/v1/models/summator:predict",
        "t|1|-|-|400|-|3|/tensorflow.serving.PredictionService/Predict",
    ]
    assert group.routes() == []
    log.write_text(lines[0] + "\n" + lines[1][:9], encoding="utf-8")
    assert [(r.sequence_id, r.replica) for r in group.routes()] == [("7", 0)]
    with log.open("a", encoding="utf-8") as appended:
        appended.write(lines[1][9:] + "\n" + lines[2] + "\n")
    routes = group.routes()
    assert [(r.protocol, r.sequence_id, r.replica) for r in routes] == [
        ("grpc", "7", 0),
        ("rest", "8", 1),
        ("grpc", None, None),
    ]
    assert [r.uri for r in routes] == [line.rsplit("|", 1)[1] for line in lines]
    assert [r.grpc_status for r in routes] == ["0", None, "3"]
    assert group.routes() == routes


@dataclass
class LogOnlyProxy:
    """A proxy that is only an access log (what routes() reads)."""

    folder: Path
    grpc_port: int
    rest_port: int
    access_log: Path

    def is_running(self) -> bool:
        """Never running: nothing listens."""
        return False

    def stop(self) -> None:
        """Nothing to stop."""


def test_300_sequences_from_16_threads_are_exact_and_each_stays_on_one_replica(
    group: ReplicaSet,
) -> None:
    sequences, steps, threads = 300, 50, 16
    ids = sequence_ids(sequences, seed=1)
    rng = np.random.default_rng(2)
    # Small integers: every running sum is exact in float32, whatever the order of requests.
    values = rng.integers(-9, 10, size=(sequences, steps)).astype(np.float32)
    # The threads stop before END, while the main thread asks the replicas which ones they hold.
    before_end = threading.Barrier(threads + 1, timeout=300)

    def client(thread: int) -> dict[int, np.ndarray]:
        """This thread's sequences, step by step in turn; their outputs."""
        mine = range(thread, sequences, threads)
        with grpc.insecure_channel(group.grpc_address) as channel:
            running = {n: StatefulSequence(channel, MODEL, "y", ids[n], TIMEOUT) for n in mine}
            outputs = {n: [running[n].start(x(values[n, 0]))] for n in mine}
            for step in range(1, steps - 1):
                for n in mine:
                    outputs[n].append(running[n].step(x(values[n, step])))
            before_end.wait()
            before_end.wait()
            for n in mine:
                outputs[n].append(running[n].end(x(values[n, -1])))
        return {n: np.concatenate(out).ravel() for n, out in outputs.items()}

    with ThreadPoolExecutor(threads) as pool:
        parts = [pool.submit(client, t) for t in range(threads)]
        try:
            before_end.wait()
            homes = assert_log_and_replicas_agree(group, ids, steps - 1, "grpc")
            before_end.wait()
        except BaseException:
            before_end.abort()
            raise
        outputs = {n: out for part in parts for n, out in part.result().items()}
    assert len(outputs) == sequences
    for n in range(sequences):
        np.testing.assert_array_equal(outputs[n], np.cumsum(values[n]))
    assert assert_one_replica_each(group, ids, steps, "grpc") == homes
    share = [sum(home == k for home in homes.values()) for k in range(REPLICAS)]
    assert min(share) > 0, share  # consistent hashing spread the ids over every replica
    assert held_sequences(group, ids) == {}  # every sequence ended


def test_kserve_unary_sequences_are_sticky_and_exact(group: ReplicaSet) -> None:
    sequences, steps, threads = 24, 10, 4
    ids = sequence_ids(sequences, seed=7)
    values = np.random.default_rng(8).integers(-9, 10, (sequences, steps)).astype(np.float32)
    outputs = np.zeros_like(values)

    def infer(client: triton.InferenceServerClient, n: int, step: int) -> None:
        """Step `step` of sequence `n` over ModelInfer."""
        result = client.infer(
            MODEL,
            x_of(float(values[n, step])),
            sequence_id=ids[n],
            sequence_start=step == 0,
            sequence_end=step == steps - 1,
            headers=routed_by(ids[n]),
            client_timeout=TIMEOUT,
        )
        assert result.get_response().parameters["sequence_id"].int64_param == ids[n]
        outputs[n, step] = result.as_numpy("y").item()

    def run(thread: int, first: int, last: int) -> None:
        """Steps `first` to `last - 1` of this thread's sequences, in turn."""
        client = triton.InferenceServerClient(group.grpc_address)
        try:
            for step in range(first, last):
                for n in range(thread, sequences, threads):
                    infer(client, n, step)
        finally:
            client.close()

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(partial(run, first=0, last=steps - 1), range(threads)))
        homes = assert_log_and_replicas_agree(group, ids, steps - 1, "grpc")
        list(pool.map(partial(run, first=steps - 1, last=steps), range(threads)))
    np.testing.assert_array_equal(outputs, np.cumsum(values, axis=1))
    assert assert_one_replica_each(group, ids, steps, "grpc") == homes
    assert len(set(homes.values())) > 1


class SequenceStream:
    """One ModelStreamInfer stream (tritonclient) carrying one sequence: the proxy reads the
    stream's metadata once, as it opens, so a stream cannot carry sequences of other replicas."""

    def __init__(self, address: str, sequence_id: int) -> None:
        self.sequence_id = sequence_id
        self.client = triton.InferenceServerClient(address)
        self.replies: queue.SimpleQueue = queue.SimpleQueue()
        self.client.start_stream(
            lambda result, error: self.replies.put((result, error)),
            headers=routed_by(sequence_id),
        )

    def send(self, value: float, start: bool = False, end: bool = False) -> None:
        """One step, not waiting for its reply."""
        inputs = x_of(value)
        self.client.async_stream_infer(
            MODEL, inputs, sequence_id=self.sequence_id, sequence_start=start, sequence_end=end
        )

    def reply(self) -> float:
        """The next reply's running sum."""
        result, error = self.replies.get(timeout=TIMEOUT)
        assert error is None, str(error)
        assert result.get_response().parameters["sequence_id"].int64_param == self.sequence_id
        return float(result.as_numpy("y").item())

    def close(self) -> None:
        """End the stream (the server finishes what was sent) and the client."""
        self.client.stop_stream()
        self.client.close()


def test_kserve_streams_one_per_sequence_each_stay_on_one_replica(group: ReplicaSet) -> None:
    """START over ModelInfer, the middle steps over one stream per sequence, END over ModelInfer:
    a stream the proxy sent anywhere but the sequence's replica would find no sequence there."""
    sequences, steps = 12, 20
    ids = sequence_ids(sequences, seed=9)
    rng = np.random.default_rng(10)
    values = rng.integers(-9, 10, (sequences, steps)).astype(np.float32)
    outputs = np.zeros_like(values)
    unary = triton.InferenceServerClient(group.grpc_address)
    try:
        for n, i in enumerate(ids):
            result = unary.infer(
                MODEL,
                x_of(float(values[n, 0])),
                sequence_id=i,
                sequence_start=True,
                headers=routed_by(i),
                client_timeout=TIMEOUT,
            )
            outputs[n, 0] = result.as_numpy("y").item()
        # Opened in another order than START's: round robin would not look sticky by chance.
        opened = {n: SequenceStream(group.grpc_address, ids[n]) for n in rng.permutation(sequences)}
        streams = [opened[n] for n in range(sequences)]
        try:
            for step in range(1, steps - 1):
                for n, stream in enumerate(streams):
                    stream.send(float(values[n, step]))
                for n, stream in enumerate(streams):
                    outputs[n, step] = stream.reply()
            held = held_sequences(group, ids)  # every stream still open
        finally:
            for stream in streams:
                stream.close()
        for n in rng.permutation(sequences):
            i = ids[n]
            result = unary.infer(
                MODEL,
                x_of(float(values[n, -1])),
                sequence_id=i,
                sequence_end=True,
                headers=routed_by(i),
                client_timeout=TIMEOUT,
            )
            outputs[n, -1] = result.as_numpy("y").item()
    finally:
        unary.close()
    np.testing.assert_array_equal(outputs, np.cumsum(values, axis=1))
    assert {i: applied for i, (_, applied) in held.items()} == dict.fromkeys(ids, steps - 1)
    # The proxy logs a stream once, as it closes: START, the stream, END.
    homes = assert_one_replica_each(group, ids, 3, "grpc")
    assert homes == {i: replica for i, (replica, _) in held.items()}
    assert len(set(homes.values())) > 1


def tfs_rest_step(
    group: ReplicaSet, sequence_id: int, value: float, control: Control | None
) -> tuple[int, Any]:
    """One TFS REST predict through the proxy: (HTTP status, the running sum or the body)."""
    inputs = {"x": [[value]], "sequence_id": [sequence_id]}
    if control is not None:
        inputs["sequence_control_input"] = [int(control)]
    url = f"{group.rest_url}/v1/models/{MODEL}:predict"
    status, body = rest_call(url, {"inputs": inputs}, headers=routed_by(sequence_id))
    return status, body["outputs"]["y"][0][0] if status == 200 else body


def kserve_rest_step(
    group: ReplicaSet, sequence_id: int, value: float, control: Control | None
) -> tuple[int, Any]:
    """One KServe REST infer through the proxy: (HTTP status, the running sum or the body)."""
    parameters: dict[str, object] = {"sequence_id": sequence_id}
    if control is not None:
        parameters["sequence_start" if control == Control.SEQUENCE_START else "sequence_end"] = True
    tensor = {"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [value]}
    body = {"inputs": [tensor], "parameters": parameters}
    url = f"{group.rest_url}/v2/models/{MODEL}/infer"
    status, answer = rest_call(url, body, headers=routed_by(sequence_id))
    return status, answer["outputs"][0]["data"][0] if status == 200 else answer


@pytest.mark.parametrize("api", ["tfs", "kserve"])
def test_rest_sequences_are_sticky_and_exact(group: ReplicaSet, api: str) -> None:
    rest_step = tfs_rest_step if api == "tfs" else kserve_rest_step
    ids = sequence_ids(12, seed=3 if api == "tfs" else 11)
    controls = [Control.SEQUENCE_START, None, None, Control.SEQUENCE_END]
    rng = np.random.default_rng(12)
    for step, control in enumerate(controls[:-1]):
        for i in rng.permutation(ids):  # a fixed order would make round robin look sticky
            assert rest_step(group, int(i), float(step + 1), control) == (200, sum(range(step + 2)))
    homes = assert_log_and_replicas_agree(group, ids, len(controls) - 1, "rest")
    for i in ids:
        assert rest_step(group, i, 4.0, Control.SEQUENCE_END) == (200, 10.0)
    assert assert_one_replica_each(group, ids, len(controls), "rest") == homes


def stream_once(stub: Any, request: Any, metadata: tuple[tuple[str, str], ...]) -> list[Any]:
    """A ModelStreamInfer stream of one request; its replies."""
    return list(stub.ModelStreamInfer(iter([request]), TIMEOUT, metadata=metadata))


def test_calls_without_a_routable_id_are_refused_by_the_proxy(group: ReplicaSet) -> None:
    refused = ("INVALID_ARGUMENT", MISSING_ID_MESSAGE)
    infer = service_pb2.ModelInferRequest(model_name=MODEL)
    infer.parameters["sequence_id"].int64_param = 5
    infer.parameters["sequence_start"].bool_param = True
    tensor = infer.inputs.add(name="x", datatype="FP32", shape=[1, 1])
    tensor.contents.fp32_contents.append(1.0)
    with grpc.insecure_channel(group.grpc_address) as channel:
        sequence = StatefulSequence(channel, MODEL, "y")  # id 0: server-assigned, not routable
        assert rpc_failure(lambda: sequence.start(x(1))) == refused
        kserve = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        predict = predict_request(MODEL, x(1), 5, Control.SEQUENCE_START)
        for bad in (None, "abc", "0", "-5", "1" * 21):
            metadata = () if bad is None else ((SEQUENCE_ID_HEADER, bad),)
            calls: list[Callable[[], object]] = [
                partial(sequence.stub.Predict, predict, TIMEOUT, metadata=metadata),
                partial(kserve.ModelInfer, infer, TIMEOUT, metadata=metadata),
                partial(stream_once, kserve, infer, metadata),
            ]
            assert [rpc_failure(call) for call in calls] == [refused] * 3, bad
        # Health and metadata need no id.
        assert kserve.ServerReady(service_pb2.ServerReadyRequest(), TIMEOUT).ready
        metadata_request = service_pb2.ModelMetadataRequest(name=MODEL)
        assert kserve.ModelMetadata(metadata_request, TIMEOUT).name == MODEL
    tfs = {"inputs": {"x": [[1.0]], "sequence_control_input": [1]}}
    kserve_body = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1.0]}]}
    for path, body in [
        (f"/v1/models/{MODEL}:predict", tfs),
        (f"/v1/models/{MODEL}/versions/1:predict", tfs),
        (f"/v2/models/{MODEL}/infer", kserve_body),
        (f"/v2/models/{MODEL}/versions/1/infer", kserve_body),
    ]:
        assert rest_call(group.rest_url + path, body) == (400, {"error": MISSING_ID_MESSAGE})
        not_decimal = {SEQUENCE_ID_HEADER: "0x10"}
        assert rest_call(group.rest_url + path, body, headers=not_decimal) == (
            400,
            {"error": MISSING_ID_MESSAGE},
        )
    # Status and metadata need no id; introspection is only on each replica's own port.
    assert rest_call(f"{group.rest_url}/v1/models/{MODEL}")[0] == 200
    assert rest_call(f"{group.rest_url}/v2/models/{MODEL}")[1]["name"] == MODEL
    forbidden = rest_call(f"{group.rest_url}/admin/models/{MODEL}/sequences")
    assert forbidden[0] == 403 and "per replica" in forbidden[1]["error"]
    # Directly on a replica, START without an id still gets a server-assigned one.
    with (
        grpc.insecure_channel(group.replicas[0].grpc_address) as direct,
        StatefulSequence(direct, MODEL, "y") as sequence,
    ):
        sequence.start(x(1))
        assert sequence.sequence_id > 0


def started(channel: grpc.Channel, ids: list[int]) -> dict[int, StatefulSequence]:
    """A started sequence (x = 1) for each id."""
    sequences = {i: StatefulSequence(channel, MODEL, "y", i, TIMEOUT) for i in ids}
    for sequence in sequences.values():
        assert sequence.start(x(1)).item() == 1
    return sequences


def raw_rest_step(group: ReplicaSet, sequence_id: int) -> tuple[int, str]:
    """One TFS REST middle step (x = 1) through the proxy: (HTTP status, body text)."""
    inputs = {"x": [[1.0]], "sequence_id": [sequence_id]}
    request = urllib.request.Request(
        f"{group.rest_url}/v1/models/{MODEL}:predict",
        data=json.dumps({"inputs": inputs}).encode(),
        headers={"Content-Type": "application/json", **routed_by(sequence_id)},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


def test_a_killed_replica_fails_only_its_own_sequences(group: ReplicaSet, proxy: str) -> None:
    ids = sequence_ids(30, seed=4)
    with grpc.insecure_channel(group.grpc_address) as channel:
        sequences = started(channel, ids)
        homes = assert_log_and_replicas_agree(group, ids, 1, "grpc")
        # REST has its own hash ring (the proxy places servers by address): its own sequences.
        rest_ids = sequence_ids(24, seed=6)
        for i in rest_ids:
            assert tfs_rest_step(group, i, 1.0, Control.SEQUENCE_START) == (200, 1.0)
        rest_homes = assert_log_and_replicas_agree(group, rest_ids, 1, "rest")
        victim = homes[ids[0]]
        lost = [i for i in ids if homes[i] == victim]
        kept = [i for i in ids if homes[i] != victim]
        assert kept, "every id hashed to one replica"
        group.stop_replica(victim, kill=True)
        # The proxy answers for the dead replica, sending nothing elsewhere. Each lost sequence
        # is stepped twice: Envoy's first call to it may still meet a pooled connection closing,
        # UNAVAILABLE with other details; the second finds no replica, whose words are checked.
        grpc_down = ("UNAVAILABLE", REPLICA_DOWN_GRPC[proxy])
        for i in lost:
            first = rpc_failure(partial(sequences[i].step, x(1)))
            assert first == grpc_down or (proxy == "envoy" and first[0] == "UNAVAILABLE"), first
            assert rpc_failure(partial(sequences[i].step, x(1))) == grpc_down
        rest_lost = [i for i in rest_ids if rest_homes[i] == victim]
        assert rest_lost, "no REST sequence hashed to the victim"
        for i in rest_ids:
            status, text = raw_rest_step(group, i)
            if i in rest_lost:
                assert status == 503 and (proxy == "envoy" or text in REPLICA_DOWN_REST[proxy])
                status, text = raw_rest_step(group, i)
                assert status == 503 and text in REPLICA_DOWN_REST[proxy], text
            else:
                assert (status, json.loads(text)["outputs"]["y"]) == (200, [[2.0]])
        for i in kept:
            assert sequences[i].step(x(1)).item() == 2
        group.start_replica(victim)  # SIGKILL wrote no snapshot: back empty
        for i in lost:
            assert rpc_failure(partial(sequences[i].step, x(1))) == ("NOT_FOUND", NOT_FOUND)
        for i in kept:
            assert sequences[i].end(x(1)).item() == 3
        for i in rest_ids:
            if i not in rest_lost:
                assert tfs_rest_step(group, i, 1.0, Control.SEQUENCE_END) == (200, 3.0)


def test_a_rolling_restart_with_snapshots_loses_no_acknowledged_step(group: ReplicaSet) -> None:
    ids = sequence_ids(48, seed=5)
    done = threading.Event()
    acknowledged: dict[int, list[float]] = {i: [1.0] for i in ids}
    wrong: list[str] = []
    retries = [0]

    def step_until_acknowledged(sequence: StatefulSequence, value: float) -> float | None:
        """One step, retried while the replica is down (the proxy answers UNAVAILABLE).

        A call that reached a replica as it began to shut down comes back CANCELLED without
        having run; the exact sums below would show it if it had.
        """
        while True:
            try:
                return float(sequence.step(x(value)).item())
            except grpc.RpcError as error:
                if error.code() not in RETRIED:
                    wrong.append(f"{sequence.sequence_id}: {error.code().name} {error.details()}")
                    return None
                retries[0] += 1
                time.sleep(0.05)

    def client(sequences: list[StatefulSequence], seed: int) -> None:
        """Step these sequences in turn until the restarts are over and 3 rounds are done."""
        rng = np.random.default_rng(seed)
        rounds = 0
        while not done.is_set() or rounds < 3:
            rounds += 1
            for sequence in sequences:
                value = float(rng.integers(-9, 10))
                output = step_until_acknowledged(sequence, value)
                if output is None:
                    return
                acknowledged[sequence.sequence_id].append(value)
                if output != sum(acknowledged[sequence.sequence_id]):
                    wrong.append(f"{sequence.sequence_id}: {output} after {acknowledged}")
        for sequence in sequences:
            if sequence.end(x(1)).item() != sum(acknowledged[sequence.sequence_id]) + 1:
                wrong.append(f"{sequence.sequence_id}: wrong sum at END")

    with grpc.insecure_channel(group.grpc_address) as channel:
        sequences = list(started(channel, ids).values())
        homes = assert_log_and_replicas_agree(group, ids, 1, "grpc")
        workers = [threading.Thread(target=client, args=(sequences[t::4], t)) for t in range(4)]
        for worker in workers:
            worker.start()
        for index in range(REPLICAS):
            group.restart_replica(index)  # SIGTERM: drain, write the snapshot; start: restore
            time.sleep(0.3)
        done.set()
        for worker in workers:
            worker.join(120)
    assert wrong == []
    assert set(homes.values()) == set(range(REPLICAS))
    assert retries[0] > 0, "no client ever met a replica that was down"
    assert min(map(len, acknowledged.values())) >= 4
    routes = wait_for_log(group, ids, sum(len(a) + 1 for a in acknowledged.values()))
    for i in ids:
        assert {r.replica for r in routes[i]} - {None} == {homes[i]}, i
    assert held_sequences(group, ids) == {}
    assert all("Traceback" not in r.server.log_text() for r in group.replicas if r.server)


@NGINX_MISSING
def test_nginx_stops_gracefully_by_its_own_quit_command(tmp_path: Path) -> None:
    """`nginx -s quit` (what Windows needs: no SIGQUIT there) ends the master with exit code 0."""
    grpc_port, rest_port, replica_grpc, replica_rest = free_ports(4)
    handle = start_nginx(tmp_path / "nginx", grpc_port, rest_port, [(replica_grpc, replica_rest)])
    assert handle.is_running() and (tmp_path / "nginx" / "nginx.pid").is_file()
    handle.stop()
    assert handle.process.returncode == 0  # a kill after the 10 s wait would be negative
    assert not (tmp_path / "nginx" / "nginx.pid").exists()  # the master removes it as it exits
