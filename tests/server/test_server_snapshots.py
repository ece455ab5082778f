"""Sequence snapshots (ours): sequences survive a SIGTERM and a restart; a SIGKILL loses at most
the steps after the last interval snapshot; bad files are logged and never stop the server."""

import hashlib
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import numpy as np
import pytest

from helpers.models.recurrent import build_stateful_lstm_cell, random_lstm_weights
from helpers.models.recurrent_reference import lstm_reference
from helpers.models.summator import build_summator
from helpers.serving import launcher
from helpers.serving.protocol import EXACT_F32
from helpers.serving.repository import write_model_repository
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

WEIGHTS = random_lstm_weights(4, 8, seed=5)
SNAPSHOT = "sequences.snapshot"
MISSING = (grpc.StatusCode.NOT_FOUND, "Sequence with provided ID does not exist")


def models_config(cleanup: bool = False) -> list[dict[str, object]]:
    """config.json: the summator and a stateful LSTM cell (f32, so NumPy can check it)."""
    common = {"stateful": True, "idle_sequence_cleanup": cleanup, "max_sequence_number": 2000}
    return [
        {"name": "summator", **common},
        {"name": "lstm", **common, "plugin_config": EXACT_F32},
    ]


@contextmanager
def snapshot_server(
    root: Path,
    snapshots: Path,
    *flags: str,
    config: list[dict[str, object]] | None = None,
    cleaner_seconds: int | None = None,
) -> Iterator[launcher.ServerHandle]:
    """A config-mode server over `root` with snapshots in `snapshots`."""
    models = {"summator": build_summator(), "lstm": build_stateful_lstm_cell(WEIGHTS)}
    with serve_repository(
        root,
        models,
        config or models_config(),
        file_poll_seconds=0,
        cleaner_seconds=cleaner_seconds,
        debug_log=True,
        extra_args=["--sequence_snapshot_path", str(snapshots), *flags],
    ) as handle:
        yield handle


def step(channel: grpc.Channel, model: str, sequence_id: int, x: np.ndarray, control=None):
    """One step; returns the model's output."""
    name = "x"
    return output(predict(channel, request(model, {name: x}, sequence_id, control)))


def lstm_expected(xs: list[np.ndarray]) -> np.ndarray:
    """h after every input, from the float64 NumPy LSTM started at zero."""
    hidden = np.zeros(WEIGHTS.hidden_size)
    states, _, _ = lstm_reference(np.concatenate(xs), WEIGHTS, hidden, hidden)
    return states


def run_steps(channel, sums, lstm_inputs, rng, count: int) -> None:
    """`count` more steps on every sequence, each output checked against NumPy."""
    for _ in range(count):
        for sequence_id, history in sums.items():
            value = float(rng.integers(-50, 51))
            control = START if not history else None
            y = step(channel, "summator", sequence_id, np.array([[value]], np.float32), control)
            history.append(value)
            assert y[0, 0] == np.sum(history, dtype=np.float64)
        for sequence_id, xs in lstm_inputs.items():
            x = rng.standard_normal((1, WEIGHTS.input_size)).astype(np.float32)
            control = START if not xs else None
            xs.append(x)
            y = step(channel, "lstm", sequence_id, x, control)
            np.testing.assert_allclose(y[0], lstm_expected(xs)[-1], atol=1e-5)


def test_sigterm_then_restart_continues_every_sequence_exactly(tmp_path):
    rng = np.random.default_rng(1)
    sums: dict[int, list[float]] = {1000 + i: [] for i in range(40)}
    sums[2**64 - 1] = []  # the largest uint64 id survives the JSON header
    lstm_inputs: dict[int, list[np.ndarray]] = {7 + i: [] for i in range(8)}
    snapshots = tmp_path / "snapshots"
    with (
        snapshot_server(tmp_path / "repo", snapshots) as server,
        grpc.insecure_channel(server.grpc_address) as channel,
    ):
        run_steps(channel, sums, lstm_inputs, rng, 4)
    assert server.process is not None and server.process.returncode == 0
    assert "Sequence snapshot: wrote 49 sequence(s)" in server.log_text()
    assert (snapshots / SNAPSHOT).is_file()
    with snapshot_server(tmp_path / "repo", snapshots) as server:
        log = server.log_text()
        assert "restored 41 sequence(s) of model summator, version: 1" in log
        assert "restored 8 sequence(s) of model lstm, version: 1" in log
        # Without an interval the restored file is renamed: a later crash cannot bring it back.
        assert (
            not (snapshots / SNAPSHOT).exists() and (snapshots / (SNAPSHOT + ".restored")).exists()
        )
        with grpc.insecure_channel(server.grpc_address) as channel:
            run_steps(channel, sums, lstm_inputs, rng, 3)
            final = step(channel, "summator", 1000, np.zeros((1, 1), np.float32), END)
            assert final[0, 0] == np.sum(sums[1000])
            assert predict_error(channel, request("summator", summator_x(1.0), 1000)) == MISSING


def test_a_version_not_served_again_is_discarded_with_a_log_line(tmp_path):
    root, snapshots = tmp_path / "repo", tmp_path / "snapshots"
    with (
        snapshot_server(root, snapshots) as server,
        grpc.insecure_channel(server.grpc_address) as channel,
    ):
        for sequence_id in (1, 2, 3):
            step(channel, "summator", sequence_id, np.ones((1, 1), np.float32), START)
        step(channel, "lstm", 9, np.ones((1, 4), np.float32), START)
    # Version 2 appears: the default policy (latest 1) serves it, and version 1 no more.
    write_model_repository(build_summator(), root, "summator", version=2)
    config = [entry for entry in models_config() if entry["name"] == "summator"]
    with snapshot_server(root, snapshots, config=config) as server:
        log = server.log_text()
        assert "discarded 3 sequence(s) of model summator, version: 1" in log
        assert "discarded 1 sequence(s) of model lstm, version: 1" in log
        assert "restored 0 of 4 sequence(s)" in log
        with grpc.insecure_channel(server.grpc_address) as channel:
            assert predict_error(channel, request("summator", summator_x(1.0), 1)) == MISSING
            assert step(channel, "summator", 1, np.ones((1, 1), np.float32) * 5, START) == 5


@pytest.fixture(scope="module")
def valid_snapshot(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a real snapshot with two summator sequences (sums 3 and 4)."""
    root = tmp_path_factory.mktemp("valid")
    with (
        snapshot_server(root / "repo", root / "snapshots") as server,
        grpc.insecure_channel(server.grpc_address) as channel,
    ):
        step(channel, "summator", 1, np.full((1, 1), 3, np.float32), START)
        step(channel, "summator", 2, np.full((1, 1), 4, np.float32), START)
    return (root / "snapshots" / SNAPSHOT).read_bytes()


def with_checksum(rest: bytes) -> bytes:
    """A file with `rest` after the signature, its length and a correct SHA-256."""
    body = (48 + len(rest)).to_bytes(8, "big") + rest
    return b"OVSEQSN1" + hashlib.sha256(body).digest() + body


def flipped(data: bytes, index: int) -> bytes:
    """`data` with the byte at `index` changed."""
    return data[:index] + bytes([data[index] ^ 0xFF]) + data[index + 1 :]


def header_replaced(data: bytes, old: bytes, new: bytes) -> bytes:
    """The snapshot with a header edit and its length and checksum made right again."""
    length = int.from_bytes(data[48:56], "big")
    header = data[56 : 56 + length].replace(old, new)
    assert header != data[56 : 56 + length]
    return with_checksum(len(header).to_bytes(8, "big") + header + data[56 + length :])


BAD_FILES = {
    "truncated": (lambda d: d[: len(d) // 2], "truncated"),
    "truncated_in_the_arrays": (lambda d: d[:-3], "truncated"),
    "truncated_prefix": (lambda d: d[:20], "truncated"),
    "appended_to": (lambda d: d + b"x", "too long"),
    "checksum_mismatch": (lambda d: flipped(d, len(d) - 1), "checksum mismatch"),
    "foreign": (lambda d: b"\x89PNG\r\n\x1a\n" + d[8:], "not a sequence snapshot"),
    "pickle": (lambda d: b"\x80\x04\x95" + d, "not a sequence snapshot"),
    "corrupt_header": (lambda d: with_checksum(b"\x00" * 7 + b"\x05{abc}"), "malformed header"),
    "newer_format": (
        lambda d: header_replaced(d, b'"format": 1', b'"format": 2'),
        "unsupported snapshot format 2",
    ),
    "object_dtype": (lambda d: header_replaced(d, b'"<f4"', b'"|O"'), "is not allowed"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_a_bad_snapshot_is_logged_and_the_server_still_serves(tmp_path, valid_snapshot, kind):
    mutate, reason = BAD_FILES[kind]
    snapshots = tmp_path / "snapshots"
    snapshots.mkdir()
    (snapshots / SNAPSHOT).write_bytes(mutate(valid_snapshot))
    with snapshot_server(tmp_path / "repo", snapshots) as server:
        lines = [line for line in server.log_text().splitlines() if "rejected" in line]
        assert len(lines) == 1 and reason in lines[0], server.log_text()[-2000:]
        assert "no sequence restored" in lines[0]
        assert (snapshots / (SNAPSHOT + ".rejected")).exists()
        with grpc.insecure_channel(server.grpc_address) as channel:
            assert predict_error(channel, request("summator", summator_x(1.0), 1)) == MISSING
            assert step(channel, "summator", 1, np.full((1, 1), 2, np.float32), START) == 2
            assert step(channel, "summator", 1, np.full((1, 1), 5, np.float32)) == 7


def test_the_valid_snapshot_of_the_bad_file_tests_restores(tmp_path, valid_snapshot):
    """The files above differ from this one only by the damage: undamaged, it restores."""
    snapshots = tmp_path / "snapshots"
    snapshots.mkdir()
    (snapshots / SNAPSHOT).write_bytes(valid_snapshot)
    with (
        snapshot_server(tmp_path / "repo", snapshots) as server,
        grpc.insecure_channel(server.grpc_address) as channel,
    ):
        assert step(channel, "summator", 1, np.ones((1, 1), np.float32)) == 4
        assert step(channel, "summator", 2, np.ones((1, 1), np.float32)) == 5


class Stepper(threading.Thread):
    """Steps sequences with x = 1 (so a sum is a step count) and records each acknowledgement."""

    def __init__(self, address: str, ids: list[int]) -> None:
        super().__init__(daemon=True)
        self.address, self.ids = address, ids
        self.acknowledged: dict[int, list[float]] = {i: [] for i in ids}  # step k at [k-1]
        self.stop_event = threading.Event()

    def run(self) -> None:
        """Step round-robin until stopped or the server goes away."""
        with grpc.insecure_channel(self.address) as channel:
            while not self.stop_event.is_set():
                for sequence_id in self.ids:
                    times = self.acknowledged[sequence_id]
                    control = START if not times else None
                    try:
                        y = step(
                            channel, "summator", sequence_id, np.ones((1, 1), np.float32), control
                        )
                    except grpc.RpcError:
                        return
                    assert y[0, 0] == len(times) + 1
                    times.append(time.monotonic())


def test_interval_snapshots_bound_what_a_sigkill_loses(tmp_path):
    interval = 1
    snapshots = tmp_path / "snapshots"
    flags = ["--sequence_snapshot_interval_seconds", str(interval)]
    ids = list(range(1, 21))
    with snapshot_server(tmp_path / "repo", snapshots, *flags) as server:
        stepper = Stepper(server.grpc_address, ids)
        stepper.start()
        wait_for(lambda: len(stepper.acknowledged[ids[-1]]) > 0, 20, "the first steps")
        time.sleep(3.5 * interval)
        assert server.process is not None
        server.process.kill()
        killed_at = time.monotonic()
        stepper.join(20)
    log = server.log_text()
    assert re.search(r"wrote 20 sequence\(s\) to \S+ in \d+ ms", log)  # a periodic one
    assert "Shutting down" not in log  # killed: no snapshot at shutdown
    with (
        snapshot_server(tmp_path / "repo", snapshots, *flags) as server,
        grpc.insecure_channel(server.grpc_address) as channel,
    ):
        for sequence_id in ids:
            kept = int(step(channel, "summator", sequence_id, np.zeros((1, 1), np.float32))[0, 0])
            times = stepper.acknowledged[sequence_id]
            # At most the step in flight at the kill was applied without an acknowledgement.
            assert 1 <= kept <= len(times) + 1
            if kept < len(times):
                # Only steps after the last snapshot are lost: the kept step is at most one
                # interval (plus a write and scheduling margin) older than the kill.
                assert times[kept - 1] >= killed_at - interval - 1.0, (kept, len(times))
                assert times[kept] < killed_at
