"""Faults: SIGTERM drain, SIGKILL and restart, vanished clients, gRPC disconnects, parent death."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import grpc
import numpy as np
import pytest

from helpers.model_server.process import parent_watch
from helpers.model_server.server import SHUTDOWN_GRACE_SECONDS
from helpers.models.summator import build_summator
from helpers.serving import launcher
from helpers.serving.repository import write_config, write_model_repository
from tests.server.support.models import build_slow_summator
from tests.server.support.requests import (
    END,
    START,
    output,
    predict_error,
    prediction_service_pb2_grpc,
    request,
    sequence_id_of,
    summator_x,
)
from tests.server.support.requests import (
    predict as predict_within,
)
from tests.server.support.servers import importable_env, serve_repository
from tests.server.support.waiting import wait_for

MISSING = "Sequence with provided ID does not exist"
LIMIT_REACHED = "Max sequence number has been reached. Could not create new sequence."
CLEANER_SECONDS = 2
VANISHED = 40
MATRIX_SIZE = 1024
CALIBRATION_ID = 999_999
CALL_TIMEOUT = 30.0  # for calls that must fail: long enough to queue behind the slow model
# Calls that queue behind the slow model: under load a calibrated "6 s" can take several times
# that, and a deadline here would test the machine, not the server.
QUEUED_TIMEOUT = 120.0
LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")


def predict(channel: grpc.Channel, req: object, timeout: float = QUEUED_TIMEOUT) -> object:
    """A Predict that may wait behind the slow model (raises grpc.RpcError on failure)."""
    return predict_within(channel, req, timeout)


def slow(sequence_id: int, value: float, rounds: int = 0, control: int | None = None) -> object:
    """A Predict for the slow model: add `value`, after `rounds` rounds of matrix work."""
    inputs = {"x": np.array([[value]], np.float32), "n": np.array([rounds], np.int64)}
    return request("slow", inputs, sequence_id, control)


def vanish(sequence_id: int, control: int | None = None, value: float = 1.0) -> object:
    """A Predict for `vanish` (a summator): add `value`."""
    return request("vanish", summator_x(value), sequence_id, control)


def predict_method(channel: grpc.Channel) -> grpc.UnaryUnaryMultiCallable:
    """The raw Predict method of a channel (for futures, deadlines and wait_for_ready)."""
    return prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict


def log_epoch(line: str) -> float:
    """The time.time() of a server log line (the log writes local time with milliseconds)."""
    match = LOG_TIME.match(line)
    assert match, line
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()


def process_gone(pid: int) -> bool:
    """True once `pid` has exited (a zombie nobody reaped counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


@dataclass
class SlowServer:
    """A running server with the slow model."""

    handle: launcher.ServerHandle

    def rounds(self, seconds: float) -> int:
        """The `n` that keeps one inference busy for about `seconds`, timed right now.

        The load from other processes changes the speed several-fold within minutes; the
        fastest of two timed runs makes a request take at least about `seconds` soon after.
        """
        timings = []
        with grpc.insecure_channel(self.handle.grpc_address) as channel:
            predict(channel, slow(CALIBRATION_ID, 0.0, 20, START))  # also the warm-up
            for control in (None, END):
                started = time.perf_counter()
                predict(channel, slow(CALIBRATION_ID, 0.0, 100, control))
                timings.append((time.perf_counter() - started) / 100)
        return max(1, round(seconds / min(timings)))


def write_repository(root: Path) -> Path:
    """`slow` (nireq 1) and `vanish` (a summator with room for 40 clients plus one keeper)."""
    write_model_repository(build_slow_summator(MATRIX_SIZE), root, "slow")
    write_model_repository(build_summator(), root, "summator")
    models = [
        # No idle cleanup on `slow`: under load the calibration alone can outlast two scans.
        {"name": "slow", "stateful": True, "nireq": 1, "idle_sequence_cleanup": False},
        {
            "name": "vanish",
            "base_path": "summator",
            "stateful": True,
            "max_sequence_number": VANISHED + 1,
        },
    ]
    write_config(root, models)
    return root


SERVED = ["slow", "vanish"]


@contextmanager
def slow_server(root: Path, log_name: str) -> Iterator[SlowServer]:
    """A server over `root` with a DEBUG log and a fast cleaner, stopped on exit."""
    with serve_repository(
        root,
        available=SERVED,
        cleaner_seconds=CLEANER_SECONDS,
        debug_log=True,
        log_path=root / log_name,
    ) as handle:
        yield SlowServer(handle)


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model repository every server in this module serves."""
    return write_repository(tmp_path_factory.mktemp("faults_repo"))


@pytest.fixture(scope="module")
def shared(repository: Path) -> Iterator[SlowServer]:
    """A server for the tests that leave it running (vanished clients, disconnects)."""
    with slow_server(repository, "shared.log") as server:
        yield server


@pytest.fixture(scope="module")
def shared_channel(shared: SlowServer) -> Iterator[grpc.Channel]:
    """A channel to the shared server."""
    with grpc.insecure_channel(shared.handle.grpc_address) as channel:
        yield channel


@pytest.fixture
def own_server(repository: Path, request: pytest.FixtureRequest) -> Iterator[SlowServer]:
    """A server for one test that kills or signals it; always stopped afterwards."""
    with slow_server(repository, f"{request.node.name}.log") as server:
        yield server


def start_sequence(channel: grpc.Channel, sequence_id: int, value: float) -> None:
    """START a sequence of the slow model and check its first output."""
    response = predict(channel, slow(sequence_id, value, control=START))
    assert output(response)[0, 0] == np.float32(value)


# SIGTERM ---------------------------------------------------------------------------------------


def test_sigterm_finishes_in_flight_requests_refuses_new_ones_and_exits_0(own_server):
    handle = own_server.handle
    rng = np.random.default_rng(1)
    first, second = rng.integers(-50, 50, (2, 6)).astype(np.float32)
    with grpc.insecure_channel(handle.grpc_address) as channel:
        for i, value in enumerate(first):
            start_sequence(channel, 100 + i, value)
        rounds = own_server.rounds(0.25)
        futures = [
            predict_method(channel).future(slow(100 + i, value, rounds), timeout=60)
            for i, value in enumerate(second)
        ]
        wait_for(lambda: any(f.done() for f in futures), 30, "the first in-flight request")
        pending_at_signal = sum(not f.done() for f in futures)
        signalled = time.monotonic()
        handle.process.send_signal(signal.SIGTERM)
        wait_for(lambda: "Shutting down" in handle.log_text(), 10, "Shutting down")
        late_code, late_details = predict_error(channel, slow(100, 1.0))
        pending_when_refused = sum(not f.done() for f in futures)
        exit_code = handle.process.wait(SHUTDOWN_GRACE_SECONDS + 10)
        drain_seconds = time.monotonic() - signalled
    # nireq 1: most requests were still queued when the signal came, and some when refused.
    assert pending_at_signal >= 2 and pending_when_refused >= 1
    # Refused without running: UNAVAILABLE, or CANCELLED when the call reached the server in the
    # instant its gRPC front end began to stop (the server README's "Faults" says both).
    assert late_code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
    outputs = [output(f.result())[0, 0] for f in futures]
    np.testing.assert_array_equal(outputs, first + second)
    assert exit_code == 0 and drain_seconds < SHUTDOWN_GRACE_SECONDS + 5
    log = handle.log_text()
    assert "Shutting down" in log and "Shutdown complete" in log and "Traceback" not in log
    print(f"SIGTERM: {pending_at_signal} pending, exit after {drain_seconds:.2f} s; {late_details}")


def test_sigint_on_an_idle_server_exits_0_at_once(own_server):
    handle = own_server.handle
    started = time.monotonic()
    handle.process.send_signal(signal.SIGINT)
    assert handle.process.wait(SHUTDOWN_GRACE_SECONDS + 10) == 0
    assert time.monotonic() - started < SHUTDOWN_GRACE_SECONDS  # nothing in flight: no grace wait
    assert "Shutdown complete" in handle.log_text() and "Traceback" not in handle.log_text()


# SIGKILL and restart ---------------------------------------------------------------------------


def test_sigkill_then_restart_on_the_same_ports_loses_every_sequence(own_server, repository):
    handle = own_server.handle
    local_pool = [("grpc.use_local_subchannel_pool", 1)]  # each channel its own reconnect backoff
    with (
        grpc.insecure_channel(handle.grpc_address, options=local_pool) as polling,
        grpc.insecure_channel(handle.grpc_address, options=local_pool) as waiting,
    ):
        for sequence_id, value in ((201, 3.0), (202, 5.0)):
            start_sequence(polling, sequence_id, value)
        generated = [sequence_id_of(predict(waiting, slow(0, 1.0, control=START))) for _ in "ab"]
        in_flight = predict_method(polling).future(slow(201, 1.0, own_server.rounds(3.0)), 30)
        time.sleep(0.3)
        handle.process.kill()
        handle.process.wait(10)
        killed = time.monotonic()
        failures = [(in_flight.exception().code(), in_flight.exception().details())]
        failures += [predict_error(channel, slow(202, 1.0)) for channel in (polling, waiting)]
        handle.stop()  # closes the old log file; the process is already gone
        with serve_repository(
            repository,
            available=SERVED,
            log_path=repository / "restarted.log",
            grpc_port=handle.grpc_port,
            rest_port=handle.rest_port,
        ):
            ready = time.monotonic()
            # The same channels work again: one waits for its reconnect, one retries on
            # UNAVAILABLE.
            end_old = predict_error(
                waiting, slow(202, 1.0, control=END), CALL_TIMEOUT, wait_for_ready=True
            )
            waited = time.monotonic() - ready
            no_control_old = predict_error(polling, slow(201, 1.0), CALL_TIMEOUT)
            while (
                no_control_old[0] == grpc.StatusCode.UNAVAILABLE and time.monotonic() < ready + 30
            ):
                time.sleep(0.05)
                no_control_old = predict_error(polling, slow(201, 1.0), CALL_TIMEOUT)
            polled = time.monotonic() - ready
            fresh = output(predict(polling, slow(201, 7.0, control=START)))[0, 0]
            regenerated = sequence_id_of(predict(waiting, slow(0, 1.0, control=START)))
    assert generated == [1, 2] and regenerated == 1
    assert [code for code, _ in failures] == [grpc.StatusCode.UNAVAILABLE] * 3
    assert end_old == no_control_old == (grpc.StatusCode.NOT_FOUND, MISSING)
    assert fresh == np.float32(7.0)  # the old id starts from a fresh state
    print(f"SIGKILL: {failures}")
    print(f"restart {ready - killed:.2f} s; first success after {waited:.2f} s (wait_for_ready)")
    print(f"and {polled:.2f} s (polling every 50 ms)")


# Clients that vanish without END ---------------------------------------------------------------

VANISHING_CLIENT = """
import json, sys, time
from helpers.model_server.process.light_tensorflow import install_light_tensorflow_namespace

install_light_tensorflow_namespace()
import grpc
import numpy as np
from tensorflow_serving.apis import prediction_service_pb2_grpc
from helpers.serving.client import predict_request
from helpers.serving.protocol import Control

address, count, report = sys.argv[1], int(sys.argv[2]), sys.argv[3]
stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(address))
with open(report, "w") as out:
    for i in range(count):
        inputs = {"x": np.array([[float(i)]], np.float32)}
        response = stub.Predict(predict_request("vanish", inputs, 0, Control.SEQUENCE_START), 30)
        sequence_id = int(response.outputs["sequence_id"].uint64_val[0])
        out.write(json.dumps({"id": sequence_id, "time": time.time()}) + "\\n")
        out.flush()
    out.write("ready\\n")
    out.flush()
time.sleep(600)
"""


def run_script(source: str, *args: object, tmp_path: Path) -> subprocess.Popen:
    """Start `python -c source args...` with the repository importable; output to a file."""
    env = importable_env()
    env.pop(parent_watch.PARENT_PID_VARIABLE, None)
    with (tmp_path / "script.out").open("w") as out:
        command = [sys.executable, "-c", source, *map(str, args)]
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)


class Keeper(threading.Thread):
    """Steps one `vanish` sequence every quarter of a cleaner interval and records the sums."""

    def __init__(self, channel: grpc.Channel, sequence_id: int) -> None:
        super().__init__(daemon=True)
        self.channel, self.sequence_id = channel, sequence_id
        self.values = np.random.default_rng(2).integers(-20, 20, 10_000).astype(np.float32)
        self.outputs: list[float] = []
        self.error: BaseException | None = None
        self.halt = threading.Event()

    def run(self) -> None:
        """START, then NO_CONTROL until halted; any failure is kept for the test to raise."""
        try:
            for i, value in enumerate(self.values):
                control = START if i == 0 else None
                req = vanish(self.sequence_id, control, float(value))
                self.outputs.append(float(output(predict(self.channel, req))[0, 0]))
                if self.halt.wait(CLEANER_SECONDS / 4):
                    return
        except BaseException as error:  # the test thread reports it
            self.error = error


def removal_times(log: str, model: str) -> dict[int, float]:
    """Sequence id -> time.time() of its idle-cleanup removal line, for one model."""
    pattern = re.compile(rf"Removing sequence with id: (\d+) on model {model}\b")
    return {
        int(match.group(1)): log_epoch(line)
        for line in log.splitlines()
        if (match := pattern.search(line))
    }


def test_vanished_clients_are_reclaimed_within_two_intervals(shared, shared_channel, tmp_path):
    keeper = Keeper(shared_channel, 5000)
    keeper.start()
    report = tmp_path / "client.jsonl"
    try:
        client = run_script(
            VANISHING_CLIENT, shared.handle.grpc_address, VANISHED, report, tmp_path=tmp_path
        )
        try:
            wait_for(lambda: report.exists() and "ready" in report.read_text(), 60, "the client")
        finally:
            client.kill()
            client.wait(10)
        last_request = {
            entry["id"]: entry["time"]
            for entry in map(json.loads, report.read_text().splitlines()[:-1])
        }
        assert sorted(last_request) == list(range(1, VANISHED + 1))  # the generated ids
        wait_for(
            lambda: set(last_request) <= set(removal_times(shared.handle.log_text(), "vanish")),
            2 * CLEANER_SECONDS + 20,
            "the idle-cleanup removals",
        )
        removed_at = removal_times(shared.handle.log_text(), "vanish")
        delays = np.array([removed_at[i] - last_request[i] for i in last_request])
        missing = {predict_error(shared_channel, vanish(i), CALL_TIMEOUT) for i in last_request}
        # Capacity is fully back: 40 new STARTs fit beside the keeper, a 41st does not.
        for _ in range(VANISHED):
            predict(shared_channel, vanish(0, START))
        over_limit = predict_error(shared_channel, vanish(0, START), CALL_TIMEOUT)
    finally:
        keeper.halt.set()
        keeper.join(30)
    assert keeper.error is None and 5000 not in removed_at
    sums = np.cumsum(keeper.values[: len(keeper.outputs)], dtype=np.float32)
    np.testing.assert_array_equal(keeper.outputs, sums)
    assert missing == {(grpc.StatusCode.NOT_FOUND, MISSING)}
    assert over_limit == (grpc.StatusCode.UNAVAILABLE, LIMIT_REACHED)
    # Removed between one and two cleaner intervals after the last request (log stamps are ms,
    # the client's stamp comes after the server's update; scheduling may add a little).
    assert delays.min() > CLEANER_SECONDS - 0.3 and delays.max() < 2 * CLEANER_SECONDS + 1.5
    print(f"reclaim after {delays.min():.2f} to {delays.max():.2f} s (P = {CLEANER_SECONDS} s)")


# gRPC clients that disconnect mid-request --------------------------------------------------------


@pytest.mark.parametrize("how", ["deadline", "cancel"])
def test_a_request_abandoned_during_its_inference_is_still_applied_once(
    shared, shared_channel, how
):
    rng = np.random.default_rng(3)
    first, abandoned, check, other = rng.integers(-50, 50, 4).astype(np.float32)
    base = 300 if how == "deadline" else 310
    start_sequence(shared_channel, base, first)
    work = slow(base, abandoned, shared.rounds(6.0))  # reaches its handler well inside 1.5 s
    if how == "deadline":
        code, _ = predict_error(shared_channel, work, timeout=1.5)
    else:
        future = predict_method(shared_channel).future(work, timeout=60)
        time.sleep(1.5)
        assert future.cancel()
        code = future.code()
    start_sequence(shared_channel, base + 1, other)  # queued behind the abandoned inference
    # The handler ran to completion (as in OVMS): the next step waits for it and sees its sum.
    after = output(predict(shared_channel, slow(base, check)))[0, 0]
    neighbour = output(predict(shared_channel, slow(base + 1, check, control=END)))[0, 0]
    expected = {"deadline": grpc.StatusCode.DEADLINE_EXCEEDED, "cancel": grpc.StatusCode.CANCELLED}
    assert code == expected[how]
    assert after == np.cumsum([first, abandoned, check], dtype=np.float32)[-1]
    assert neighbour == other + check
    assert shared.handle.is_running() and "Traceback" not in shared.handle.log_text()


def test_a_request_cancelled_while_its_sequence_is_busy_is_still_applied_once(
    shared, shared_channel
):
    rng = np.random.default_rng(4)
    first, busy, cancelled, check = rng.integers(-50, 50, 4).astype(np.float32)
    start_sequence(shared_channel, 400, first)
    running = predict_method(shared_channel).future(slow(400, busy, shared.rounds(6.0)), timeout=60)
    time.sleep(1.0)
    waiting = predict_method(shared_channel).future(slow(400, cancelled), timeout=60)
    time.sleep(1.5)  # well inside the busy request (6 s): this one waits for the sequence
    assert waiting.cancel() and not running.done()
    busy_sum = output(running.result())[0, 0]
    time.sleep(2.0)  # let the cancelled handler take the sequence before the check does
    after = output(predict(shared_channel, slow(400, check, control=END)))[0, 0]
    sums = np.cumsum([first, busy, cancelled, check], dtype=np.float32)
    assert waiting.code() == grpc.StatusCode.CANCELLED
    assert busy_sum == sums[1] and after == sums[3]
    assert shared.handle.is_running() and "Traceback" not in shared.handle.log_text()


# Parent-death watch ------------------------------------------------------------------------------

LAUNCHING_PARENT = """
import sys, time
from pathlib import Path
from helpers.serving import launcher
from helpers.serving.repository import write_model_repository
from helpers.models.summator import build_summator

root, report = Path(sys.argv[1]), Path(sys.argv[2])
write_model_repository(build_summator(), root, "summator")
args = launcher.model_server_args(root, "summator", stateful=True)
handle = launcher.start_server(root, ["summator"], args, log_path=root / "server.log")
report.with_suffix(".tmp").write_text(str(handle.process.pid))
report.with_suffix(".tmp").rename(report)
time.sleep(600)
"""


def test_a_launched_server_stops_by_itself_when_its_parent_is_sigkilled(tmp_path):
    report = tmp_path / "server.pid"
    parent = run_script(LAUNCHING_PARENT, tmp_path / "repo", report, tmp_path=tmp_path)
    server_pid = None
    try:
        wait_for(report.exists, 60, "the parent to start its server")
        server_pid = int(report.read_text())
        assert not process_gone(server_pid)
        parent.kill()  # no atexit handler runs: only the watch can stop the server
        parent.wait(10)
        killed = time.monotonic()
        wait_for(lambda: process_gone(server_pid), 15, "the orphaned server to exit")
        gone_after = time.monotonic() - killed
    finally:
        parent.kill()
        parent.wait(10)
        if server_pid is not None and not process_gone(server_pid):
            os.kill(server_pid, signal.SIGKILL)
    log = (tmp_path / "repo" / "server.log").read_text()
    assert f"The launching process {parent.pid} has exited; shutting down" in log
    assert "Shutdown complete" in log and "Traceback" not in log
    assert gone_after < parent_watch.POLL_SECONDS + SHUTDOWN_GRACE_SECONDS
    print(f"orphaned server exited {gone_after:.2f} s after its parent was killed")


def test_watch_parent_needs_the_variable(monkeypatch):
    monkeypatch.delenv(parent_watch.PARENT_PID_VARIABLE, raising=False)
    assert parent_watch.parent_pid_to_watch() is None
    assert not parent_watch.watch_parent(threading.Event())
    monkeypatch.setenv(parent_watch.PARENT_PID_VARIABLE, "not-a-pid")
    assert not parent_watch.watch_parent(threading.Event())


def test_watch_parent_ignores_a_living_process_that_is_not_the_parent(monkeypatch):
    monkeypatch.setenv(parent_watch.PARENT_PID_VARIABLE, str(os.getpid()))
    assert not parent_watch.watch_parent(threading.Event())


def test_watch_parent_keeps_quiet_while_the_parent_lives_and_ends_with_the_stop(monkeypatch):
    monkeypatch.setenv(parent_watch.PARENT_PID_VARIABLE, str(os.getppid()))
    stop = threading.Event()
    assert parent_watch.watch_parent(stop, poll_seconds=0.02)
    time.sleep(0.3)
    assert not stop.is_set()
    stop.set()
    wait_for(
        lambda: all(t.name != "parent-watch" for t in threading.enumerate()), 5, "the thread end"
    )


def test_watch_parent_stops_at_once_when_the_parent_is_already_gone(monkeypatch):
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait(30)  # reaped: its pid now names no process
    monkeypatch.setenv(parent_watch.PARENT_PID_VARIABLE, str(finished.pid))
    stop = threading.Event()
    assert parent_watch.watch_parent(stop, poll_seconds=0.02)
    assert stop.wait(5)
