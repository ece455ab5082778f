"""Replicas behind nginx: sticky routing by `x-sequence-id`, refusals, a killed replica, a rolling
restart with snapshots. Every output is checked against a NumPy running sum, every route against
nginx's access log (`$upstream_addr`)."""

import json
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import grpc
import numpy as np
import pytest

from helpers.models.summator import build_summator
from helpers.serving.calls import rest_call, rpc_failure
from helpers.serving.client import StatefulSequence, predict_request
from helpers.serving.nginx import (
    INSTALL_HINT,
    MISSING_ID_MESSAGE,
    REPLICA_DOWN_MESSAGE,
    find_nginx,
    start_nginx,
)
from helpers.serving.protocol import EXACT_F32, Control
from helpers.serving.replicas import ReplicaSet, Route, free_ports, start_replicas
from helpers.serving.repository import write_model_repository

# CI installs nginx (.ci/run, `make nginx`): there a missing nginx fails instead of skipping.
pytestmark = pytest.mark.skipif(
    find_nginx() is None and not os.environ.get("CI"), reason=INSTALL_HINT
)
MODEL = "summator"
REPLICAS = 3
NOT_FOUND = "Sequence with provided ID does not exist"
TIMEOUT = 30.0
RETRIED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicaSet]:
    """Three summator replicas (snapshots at SIGTERM only, introspection on) behind nginx."""
    root = tmp_path_factory.mktemp("replicas")
    write_model_repository(build_summator(), root, MODEL)
    args = ["--model_name", MODEL, "--model_path", str(root / MODEL), "--stateful"]
    args += ["--plugin_config", json.dumps(EXACT_F32), "--sequence_introspection"]
    with start_replicas(root, [MODEL], args, REPLICAS, snapshots=True) as replicas:
        yield replicas


def sequence_ids(count: int, seed: int) -> list[int]:
    """`count` different random ids below 2**63, so that nobody else's ids collide."""
    rng = np.random.default_rng(seed)
    return [int(i) for i in rng.choice(2**63 - 1, size=count, replace=False) + 1]


def x(value: float) -> dict[str, np.ndarray]:
    """The summator's one input."""
    return {"x": np.full((1, 1), value, np.float32)}


def routes_of(group: ReplicaSet, ids: list[int]) -> dict[int, list[Route]]:
    """The logged Predict routes of each of `ids`."""
    wanted = {str(i): i for i in ids}
    routes: dict[int, list[Route]] = defaultdict(list)
    for route in group.routes():
        if route.uri.lower().endswith("predict") and route.sequence_id in wanted:
            routes[wanted[route.sequence_id]].append(route)
    return routes


def wait_for_log(group: ReplicaSet, ids: list[int], requests: int) -> dict[int, list[Route]]:
    """The routes of `ids` once nginx has logged `requests` of them (it logs after answering)."""
    deadline = time.monotonic() + 10
    while True:
        routes = routes_of(group, ids)
        if sum(map(len, routes.values())) >= requests or time.monotonic() > deadline:
            return routes
        time.sleep(0.05)


def home_replicas(group: ReplicaSet, ids: list[int]) -> dict[int, int]:
    """Each sequence's replica, by asking every replica which sequences it holds."""
    homes = {}
    for replica in group.replicas:
        status, body = rest_call(f"{replica.rest_url}/admin/models/{MODEL}/sequences")
        assert status == 200, body
        homes.update({int(s["sequence_id"]): replica.index for s in body["sequences"]})
    return {i: homes[i] for i in ids if i in homes}


def run_sequence(channel: grpc.Channel, sequence_id: int, values: np.ndarray) -> np.ndarray:
    """START, middle steps, END through `channel`; the outputs in order."""
    sequence = StatefulSequence(channel, MODEL, "y", sequence_id=sequence_id, timeout=TIMEOUT)
    outputs = [sequence.start(x(values[0]))]
    outputs += [sequence.step(x(v)) for v in values[1:-1]]
    outputs.append(sequence.end(x(values[-1])))
    return np.concatenate(outputs).ravel()


def test_300_sequences_from_16_threads_are_exact_and_each_stays_on_one_replica(group):
    sequences, steps, threads = 300, 50, 16
    ids = sequence_ids(sequences, seed=1)
    rng = np.random.default_rng(2)
    # Small integers: every running sum is exact in float32, whatever the order of requests.
    values = rng.integers(-9, 10, size=(sequences, steps)).astype(np.float32)
    channels = [grpc.insecure_channel(group.grpc_address) for _ in range(threads)]

    def client(thread: int) -> dict[int, np.ndarray]:
        mine = range(thread, sequences, threads)
        return {n: run_sequence(channels[thread], ids[n], values[n]) for n in mine}

    with ThreadPoolExecutor(threads) as pool:
        outputs = {n: out for part in pool.map(client, range(threads)) for n, out in part.items()}
    for channel in channels:
        channel.close()
    assert len(outputs) == sequences
    for n in range(sequences):
        np.testing.assert_array_equal(outputs[n], np.cumsum(values[n]))

    routes = wait_for_log(group, ids, sequences * steps)
    assert sorted(len(routes[i]) for i in ids) == [steps] * sequences
    served_by = {i: {r.replica for r in routes[i]} for i in ids}
    assert all(len(replicas) == 1 and None not in replicas for replicas in served_by.values())
    share = [sum(r == {k} for r in served_by.values()) for k in range(REPLICAS)]
    assert min(share) > 0, share  # consistent hashing spread the ids over every replica
    assert all(r.grpc_status == "0" for i in ids for r in routes[i])


def test_rest_sequences_are_sticky_too(group):
    ids = sequence_ids(12, seed=3)
    url = f"{group.rest_url}/v1/models/{MODEL}:predict"
    for i in ids:
        headers = {"x-sequence-id": str(i)}
        for step, control in enumerate([Control.SEQUENCE_START, None, Control.SEQUENCE_END]):
            inputs = {"x": [[float(step + 1)]], "sequence_id": [i]}
            if control is not None:
                inputs["sequence_control_input"] = [int(control)]
            status, body = rest_call(url, {"inputs": inputs}, headers=headers)
            assert status == 200, body
            assert body["outputs"]["y"] == [[float(sum(range(1, step + 2)))]]
    routes = wait_for_log(group, ids, 3 * len(ids))
    assert all(len({r.replica for r in routes[i]}) == 1 for i in ids)
    assert {r.protocol for i in ids for r in routes[i]} == {"rest"}


def test_predict_without_a_routable_id_is_refused_by_the_proxy(group):
    with grpc.insecure_channel(group.grpc_address) as channel:
        sequence = StatefulSequence(channel, MODEL, "y")  # id 0: server-assigned, not routable
        assert rpc_failure(lambda: sequence.start(x(1))) == ("INVALID_ARGUMENT", MISSING_ID_MESSAGE)
        request = predict_request(MODEL, x(1), 5, Control.SEQUENCE_START)
        for bad in ("abc", "0", "-5", "1" * 21):
            metadata = (("x-sequence-id", bad),)
            call = partial(sequence.stub.Predict, request, TIMEOUT, metadata=metadata)
            assert rpc_failure(call) == ("INVALID_ARGUMENT", MISSING_ID_MESSAGE)
    body = {"inputs": {"x": [[1.0]], "sequence_control_input": [1]}}
    url = f"{group.rest_url}/v1/models/{MODEL}:predict"
    assert rest_call(url, body) == (400, {"error": MISSING_ID_MESSAGE})
    # Status and metadata need no id; introspection is only on each replica's own port.
    assert rest_call(f"{group.rest_url}/v1/models/{MODEL}")[0] == 200
    assert rest_call(f"{group.rest_url}/admin/models/{MODEL}/sequences")[0] == 403
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


def rest_step(group: ReplicaSet, sequence_id: int, control: Control | None) -> tuple[int, dict]:
    """One REST Predict (x = 1) of `sequence_id` through nginx; (HTTP status, body)."""
    inputs = {"x": [[1.0]], "sequence_id": [sequence_id]}
    if control is not None:
        inputs["sequence_control_input"] = [int(control)]
    url = f"{group.rest_url}/v1/models/{MODEL}:predict"
    return rest_call(url, {"inputs": inputs}, headers={"x-sequence-id": str(sequence_id)})


def test_a_killed_replica_fails_only_its_own_sequences(group):
    ids = sequence_ids(30, seed=4)
    with grpc.insecure_channel(group.grpc_address) as channel:
        sequences = started(channel, ids)
        homes = {i: routes[0].replica for i, routes in wait_for_log(group, ids, len(ids)).items()}
        # REST has its own hash ring (nginx places servers by address): its own sequences.
        rest_ids = sequence_ids(24, seed=6)
        assert all(rest_step(group, i, Control.SEQUENCE_START)[0] == 200 for i in rest_ids)
        rest_routes = wait_for_log(group, rest_ids, len(rest_ids)).items()
        rest_homes = {i: routes[0].replica for i, routes in rest_routes}
        assert sorted(homes) == sorted(ids)
        victim = homes[ids[0]]
        lost = [i for i in ids if homes[i] == victim]
        kept = [i for i in ids if homes[i] != victim]
        assert kept, "every id hashed to one replica"
        group.stop_replica(victim, kill=True)
        for i in lost:  # nginx answers for the dead replica, sending nothing elsewhere
            down = rpc_failure(lambda i=i: sequences[i].step(x(1)))
            assert down == ("UNAVAILABLE", REPLICA_DOWN_MESSAGE)
        rest_lost = [i for i in rest_ids if rest_homes[i] == victim]
        assert rest_lost, "no REST sequence hashed to the victim"
        for i in rest_ids:
            expected = (503, REPLICA_DOWN_MESSAGE) if i in rest_lost else (200, None)
            status, body = rest_step(group, i, None)
            assert (status, body.get("error")) == expected
        for i in kept:
            assert sequences[i].step(x(1)).item() == 2
        group.start_replica(victim)  # SIGKILL wrote no snapshot: back empty
        for i in lost:
            assert rpc_failure(lambda i=i: sequences[i].step(x(1))) == ("NOT_FOUND", NOT_FOUND)
        for i in kept:
            assert sequences[i].end(x(1)).item() == 3


def test_a_rolling_restart_with_snapshots_loses_no_acknowledged_step(group):
    ids = sequence_ids(48, seed=5)
    done = threading.Event()
    acknowledged: dict[int, list[float]] = {i: [1.0] for i in ids}
    wrong: list[str] = []
    retries = [0]

    def step_until_acknowledged(sequence: StatefulSequence, value: float) -> float | None:
        """One step, retried while the replica is down (nginx answers UNAVAILABLE).

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
        homes = home_replicas(group, ids)
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
    assert sorted(homes) == sorted(ids)
    assert set(homes.values()) == set(range(REPLICAS))
    assert retries[0] > 0, "no client ever met a replica that was down"
    assert min(map(len, acknowledged.values())) >= 4
    routes = wait_for_log(group, ids, sum(len(a) + 1 for a in acknowledged.values()))
    for i in ids:
        assert {r.replica for r in routes[i]} == {homes[i]}, i
    assert set(home_replicas(group, ids)) == set()
    assert all("Traceback" not in r.server.log_text() for r in group.replicas if r.server)


def test_nginx_stops_gracefully_by_its_own_quit_command(tmp_path):
    """`nginx -s quit` (what Windows needs: no SIGQUIT there) ends the master with exit code 0."""
    grpc_port, rest_port, replica_grpc, replica_rest = free_ports(4)
    handle = start_nginx(tmp_path / "nginx", grpc_port, rest_port, [(replica_grpc, replica_rest)])
    assert handle.is_running() and (tmp_path / "nginx" / "nginx.pid").is_file()
    handle.stop()
    assert handle.process.returncode == 0  # a kill after the 10 s wait would be negative
    assert not (tmp_path / "nginx" / "nginx.pid").exists()  # the master removes it as it exits
