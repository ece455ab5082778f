"""Concurrency hazards: the spec's scan-during-request cases, START racing END, reload under load.

The scan cases (spec section 6, OVMS's statefulInferSequence*Timeout tests) run in-process with an
infer slot that can be held mid-inference, so that a scan lands exactly where each case needs it.
"""

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest

from helpers.model_server.core.infer_pool import InferPool
from helpers.model_server.core.sequences import SequenceManager
from helpers.model_server.core.servable import Servable
from helpers.model_server.protocol.special_inputs import SequenceRequest
from helpers.model_server.protocol.status import Code, ServingError
from helpers.models.summator import build_summator
from helpers.serving.protocol import Control
from helpers.serving.repository import write_config
from tests.server.support.requests import (
    END,
    START,
    output,
    predict,
    predict_error,
    request,
    sequence_id_of,
    summator_x,
)
from tests.server.support.servers import serve_repository
from tests.server.support.waiting import wait_for

NO_CONTROL = Control.NO_CONTROL
MISSING = (grpc.StatusCode.NOT_FOUND, "Sequence with provided ID does not exist")


class HeldSlot:
    """A running-sum infer slot whose inference can be held until the test releases it."""

    def __init__(self) -> None:
        self.total = np.zeros(1)
        self.states = ("total",)
        self.hold = threading.Event()
        self.entered = threading.Event()
        self.release = threading.Event()
        self._x = np.zeros(1)

    def reset_states(self) -> None:
        self.total = np.zeros(1)

    def restore_states(self, saved: dict[str, np.ndarray]) -> None:
        self.total = saved["total"].copy()

    def save_states(self) -> dict[str, np.ndarray]:
        return {"total": self.total.copy()}

    def set_inputs(self, arrays: dict[str, np.ndarray]) -> None:
        self._x = arrays["x"]

    def infer(self) -> dict[str, np.ndarray]:
        if self.hold.is_set():
            self.entered.set()
            assert self.release.wait(10)
        self.total = self.total + self._x
        return {"y": self.total.copy()}


def make_servable() -> tuple[Servable, SequenceManager, HeldSlot]:
    """A stateful servable over one held slot."""
    slot = HeldSlot()
    sequences = SequenceManager(10, "race")
    pool = InferPool([slot])  # nireq 1: one request at a time holds the slot
    return Servable("race", 1, {}, {}, pool, sequences), sequences, slot


def send(servable: Servable, value: float, sequence_id: int, control: Control) -> float:
    """One request; returns the running sum."""
    outputs, _ = servable.infer_in_sequence(
        {"x": np.array([value])}, SequenceRequest(sequence_id, control)
    )
    return float(outputs["y"][0])


def code_of(call: Callable[[], object]) -> Code:
    """The status code a call fails with."""
    with pytest.raises(ServingError) as caught:
        call()
    return caught.value.code


def with_scan_while_held(
    servable: Servable, slot: HeldSlot, scans: int, call: Callable[[], float]
) -> float:
    """Run `call` in a thread, hold it inside inference, run `scans` scans, then let it finish."""
    slot.hold.set()
    result: list[float] = []
    worker = threading.Thread(target=lambda: result.append(call()))
    worker.start()
    assert slot.entered.wait(10)
    for _ in range(scans):
        servable.sequences.remove_idle()
    slot.hold.clear()
    slot.release.set()
    worker.join(10)
    return result[0]


def test_scans_before_a_no_control_remove_the_sequence_first():
    """Two scans before the request reaches the manager: the request finds nothing."""
    servable, sequences, _ = make_servable()
    send(servable, 1.0, 5, Control.SEQUENCE_START)
    sequences.remove_idle()
    sequences.remove_idle()
    assert code_of(lambda: send(servable, 1.0, 5, NO_CONTROL)) == Code.SEQUENCE_MISSING
    assert code_of(lambda: send(servable, 1.0, 5, Control.SEQUENCE_END)) == Code.SEQUENCE_MISSING


@pytest.mark.parametrize("control", [Control.SEQUENCE_START, NO_CONTROL, Control.SEQUENCE_END])
def test_scans_while_a_request_holds_its_sequence_skip_it(control):
    """However many scans run while a request is inside, its sequence is kept."""
    servable, _, slot = make_servable()
    if control != Control.SEQUENCE_START:
        send(servable, 2.0, 5, Control.SEQUENCE_START)
        servable.sequences.remove_idle()  # marked idle: the next scan would remove it
    total = with_scan_while_held(servable, slot, 3, lambda: send(servable, 3.0, 5, control))
    assert total == (3.0 if control == Control.SEQUENCE_START else 5.0)
    if control == Control.SEQUENCE_END:
        assert len(servable.sequences) == 0
    else:
        assert send(servable, 4.0, 5, Control.SEQUENCE_END) == total + 4.0


def test_a_request_just_before_a_scan_counts_as_activity():
    """After the request, one scan only marks the sequence; the second one removes it."""
    servable, sequences, _ = make_servable()
    send(servable, 1.0, 5, Control.SEQUENCE_START)
    sequences.remove_idle()
    send(servable, 1.0, 5, NO_CONTROL)  # resets the mark
    sequences.remove_idle()
    assert send(servable, 1.0, 5, NO_CONTROL) == 3.0
    sequences.remove_idle()
    sequences.remove_idle()
    assert code_of(lambda: send(servable, 1.0, 5, Control.SEQUENCE_END)) == Code.SEQUENCE_MISSING


def test_32_threads_mixing_scans_and_sequences_end_with_no_sequences():
    """OVMS's statefulInferMultipleThreadsSequenceTimeout: sums stay exact, count ends at 0."""
    servable, sequences, _ = make_servable()
    sequences.max_sequence_number = 64
    stop = threading.Event()

    def scanner() -> None:
        while not stop.is_set():
            sequences.remove_idle()

    def one_sequence(sequence_id: int) -> list[float]:
        rng = np.random.default_rng(sequence_id)
        values = rng.integers(1, 10, 20).astype(float)
        got = []
        for step, value in enumerate(values):
            control = NO_CONTROL
            if step == 0:
                control = Control.SEQUENCE_START
            elif step == len(values) - 1:
                control = Control.SEQUENCE_END
            try:
                got.append(send(servable, value, sequence_id, control))
            except ServingError as error:
                assert error.code == Code.SEQUENCE_MISSING  # removed by a scan while idle
                return []
        assert got == list(np.cumsum(values))
        return got

    scan_thread = threading.Thread(target=scanner)
    scan_thread.start()
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(one_sequence, range(1, 33)))
    stop.set()
    scan_thread.join(10)
    sequences.remove_idle()
    sequences.remove_idle()
    assert len(sequences) == 0


@pytest.fixture(scope="module")
def race_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """A server whose config.json the reload test rewrites (polled every second)."""
    root = tmp_path_factory.mktemp("race_repo")
    models: list[dict[str, object]] = [
        {"name": "summator", "stateful": True, "idle_sequence_cleanup": False},
        {"name": "reloaded", "base_path": "summator", "stateful": True, "nireq": 1},
    ]
    with (
        serve_repository(
            root, {"summator": build_summator()}, models, file_poll_seconds=1
        ) as handle,
        grpc.insecure_channel(handle.grpc_address) as channel,
    ):
        yield handle, channel, root, models


def test_start_racing_end_on_one_id_has_only_consistent_outcomes(race_server):
    handle, channel, _, _ = race_server
    outcomes: Counter[str] = Counter()
    barrier = threading.Barrier(2)

    def end(sequence_id: int) -> float:
        barrier.wait()
        return float(
            output(predict(channel, request("summator", summator_x(2.0), sequence_id, END)))[0, 0]
        )

    def start(sequence_id: int) -> tuple[str, float | None]:
        barrier.wait()
        try:
            response = predict(channel, request("summator", summator_x(5.0), sequence_id, START))
        except grpc.RpcError as error:
            return error.code().name, None
        return "OK", float(output(response)[0, 0])

    with ThreadPoolExecutor(2) as pool:
        for sequence_id in range(90_000, 90_150):
            predict(channel, request("summator", summator_x(1.0), sequence_id, START))
            ended, started = pool.submit(end, sequence_id), pool.submit(start, sequence_id)
            assert ended.result() == 3.0  # END always finishes the old sequence correctly
            code, value = started.result()
            outcomes[code] += 1
            if code == "OK":  # END finished first: a fresh sequence, started from zero
                assert value == 5.0
                follow = predict(channel, request("summator", summator_x(1.0), sequence_id, END))
                assert float(output(follow)[0, 0]) == 6.0
            else:  # START came while the old sequence was live or ending: it changed nothing
                assert code in {"ALREADY_EXISTS", "FAILED_PRECONDITION"}
                assert (
                    predict_error(channel, request("summator", summator_x(1.0), sequence_id))
                    == MISSING
                )
    assert sum(outcomes.values()) == 150
    assert handle.is_running()


def test_two_clients_hammering_one_sequence_are_served_one_at_a_time(race_server):
    """Every response is the previous running sum plus its own input: a serial order exists."""
    _, channel, _, _ = race_server
    sequence_id = 95_000
    predict(channel, request("summator", summator_x(0.0), sequence_id, START))
    values = {0: np.arange(1, 201, 2, dtype=np.float32), 1: np.arange(2, 202, 2, dtype=np.float32)}

    def hammer(client: int) -> list[tuple[float, float]]:
        pairs = []
        for value in values[client]:
            response = predict(channel, request("summator", summator_x(float(value)), sequence_id))
            pairs.append((float(value), float(output(response)[0, 0])))
        return pairs

    with ThreadPoolExecutor(2) as pool:
        pairs = [pair for result in pool.map(hammer, (0, 1)) for pair in result]
    pairs.sort(key=lambda pair: pair[1])  # inputs are positive: sums grow with every step
    previous = 0.0
    for value, total in pairs:
        assert total == previous + value  # no step lost, none applied twice, none interleaved
        previous = total
    final = float(
        output(predict(channel, request("summator", summator_x(0.0), sequence_id, END)))[0, 0]
    )
    assert final == previous == float(sum(v.sum() for v in values.values()))


def test_reload_under_load_drops_sequences_cleanly(race_server):
    """Sequences live during a reload are dropped (OVMS): clients see only SEQUENCE_MISSING."""
    handle, channel, root, models = race_server
    stop = threading.Event()
    counts: Counter[str] = Counter()
    lock = threading.Lock()

    def client(thread_number: int) -> None:
        rng = np.random.default_rng(thread_number)
        round_number = 0
        while not stop.is_set():
            round_number += 1
            sequence_id = 100_000 * (thread_number + 1) + round_number
            values = rng.integers(-50, 51, 25).astype(np.float32)
            for step, (value, expected) in enumerate(zip(values, np.cumsum(values), strict=True)):
                control = START if step == 0 else END if step == len(values) - 1 else None
                try:
                    response = predict(
                        channel, request("reloaded", summator_x(value), sequence_id, control)
                    )
                except grpc.RpcError as error:
                    key = f"{error.code().name}: {error.details()}"
                    with lock:
                        counts[key] += 1
                    break  # this sequence is gone; start another one
                good = output(response)[0, 0] == expected
                good = good and sequence_id_of(response) == sequence_id
                with lock:
                    counts["ok" if good else "WRONG"] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    wait_for(lambda: counts["ok"] > 300, 30, "300 steps before the reload", interval=0.1)
    before = handle.log_text().count("is AVAILABLE")
    changed = [dict(m, nireq=2) if m["name"] == "reloaded" else m for m in models]
    write_config(Path(root), changed)
    wait_for(
        lambda: handle.log_text().count("is AVAILABLE") > before, 30, "the reload", interval=0.1
    )
    ok_at_reload = counts["ok"]
    wait_for(
        lambda: counts["ok"] > ok_at_reload + 300, 30, "300 steps after the reload", interval=0.1
    )
    stop.set()
    for thread in threads:
        thread.join(30)
    write_config(Path(root), models)
    missing = f"NOT_FOUND: {MISSING[1]}"
    assert counts["WRONG"] == 0
    assert set(counts) <= {"ok", missing}, counts
    assert counts[missing] >= 1  # the sequences that were live at the reload
    assert "Configuration file changed, reloading" in handle.log_text()
    assert "Traceback" not in handle.log_text()
