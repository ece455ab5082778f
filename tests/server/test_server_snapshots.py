"""Sequence snapshots (ours): sequences survive a SIGTERM and a restart; a SIGKILL loses at most
the steps after the last interval snapshot; bad files are logged and never stop the server."""

import hashlib
import json
import logging
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import numpy as np
import openvino as ov
import pytest
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

from helpers.model_server.config.cli import (
    INTERVAL_NEEDS_SNAPSHOT_PATH,
    UsageError,
    parse_args,
)
from helpers.model_server.config.model_config import ModelConfig
from helpers.model_server.core.manager import ModelManager
from helpers.model_server.core.snapshot_file import SequenceRecord, SnapshotError, decode, encode
from helpers.model_server.core.snapshots import collect, restore
from helpers.models.recurrent import build_stateful_lstm_cell, random_lstm_weights
from helpers.models.recurrent_reference import lstm_reference
from helpers.models.summator import build_summator
from helpers.serving import launcher
from helpers.serving.protocol import EXACT_F32, UINT64_MAX
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
from tests.server.support.servers import run_server_command, serve_repository
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
        lambda d: header_replaced(d, b'"format": 2', b'"format": 3'),
        "unsupported snapshot format 3 (this server reads 1 and 2)",
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


def as_format_1(data: bytes) -> bytes:
    """A format 2 snapshot without names, rewritten as the format 1 file an older server wrote."""
    older = header_replaced(data, b'"format": 2', b'"format": 1')
    return header_replaced(older, b'"name": null, ', b"")


def test_a_format_1_snapshot_still_restores(tmp_path, valid_snapshot):
    snapshots = tmp_path / "snapshots"
    snapshots.mkdir()
    older = as_format_1(valid_snapshot)
    assert b'"format": 1' in older and b'"name"' not in older.replace(b'"name": "sum"', b"")
    (snapshots / SNAPSHOT).write_bytes(older)
    with (
        snapshot_server(tmp_path / "repo", snapshots) as server,
        grpc.insecure_channel(server.grpc_address) as channel,
    ):
        assert "restored 2 of 2 sequence(s)" in server.log_text()
        assert step(channel, "summator", 1, np.full((1, 1), 2, np.float32)) == 5
        assert step(channel, "summator", 2, np.full((1, 1), 2, np.float32)) == 6


def kserve_step(
    client: triton.InferenceServerClient, sequence_id: str | int, value: float, **flags: bool
) -> float:
    """One summator step through tritonclient's sequence parameters; the running sum."""
    tensor = triton.InferInput("x", [1, 1], "FP32")
    tensor.set_data_from_numpy(np.array([[value]], np.float32))
    result = client.infer("summator", [tensor], sequence_id=sequence_id, **flags)
    return float(result.as_numpy("y")[0, 0])


def test_string_id_sequences_survive_a_restart(tmp_path):
    """A KServe sequence named by a string keeps its name (and state) across SIGTERM + restart."""
    rng = np.random.default_rng(11)
    histories: dict[str | int, list[float]] = {"sensor-a": [], "sensor-b": [], 5: []}
    snapshots = tmp_path / "snapshots"
    flags = ["--kserve_sequence_extension"]

    def steps(client: triton.InferenceServerClient, count: int) -> None:
        for _ in range(count):
            for sequence_id, history in histories.items():
                value = float(rng.integers(-1000, 1001)) / 8  # exact in float32
                y = kserve_step(client, sequence_id, value, sequence_start=not history)
                history.append(value)
                assert y == np.sum(history, dtype=np.float64)

    with (
        snapshot_server(tmp_path / "repo", snapshots, *flags) as server,
        triton.InferenceServerClient(server.grpc_address) as client,
    ):
        steps(client, 3)
    assert server.process is not None and server.process.returncode == 0
    records = {record.name: record for record in decode((snapshots / SNAPSHOT).read_bytes())}
    assert set(records) == {"sensor-a", "sensor-b", None}
    assert records[None].sequence_id == 5
    for name in ("sensor-a", "sensor-b"):
        assert 2**63 <= records[name].sequence_id <= UINT64_MAX  # the named range
        assert records[name].states["sum"].tolist() == [[np.sum(histories[name])]]
    with (
        snapshot_server(tmp_path / "repo", snapshots, *flags) as server,
        triton.InferenceServerClient(server.grpc_address) as client,
    ):
        assert "restored 3 sequence(s) of model summator, version: 1" in server.log_text()
        steps(client, 2)
        # A new name gets an id no restored sequence holds: its sum starts from zero.
        assert kserve_step(client, "sensor-c", 2.5, sequence_start=True) == 2.5
        assert kserve_step(client, "sensor-a", 3.0, sequence_end=True) == np.sum(
            histories["sensor-a"] + [3.0]
        )
        with pytest.raises(InferenceServerException) as caught:
            kserve_step(client, "sensor-a", 1.0)
        assert (str(caught.value.status()), caught.value.message()) == (
            "StatusCode.NOT_FOUND",
            "Sequence with provided ID does not exist",
        )
        assert kserve_step(client, "sensor-b", 0.5) == np.sum(histories["sensor-b"] + [0.5])
        assert kserve_step(client, "sensor-a", 4.0, sequence_start=True) == 4.0  # the name is free
        assert kserve_step(client, "sensor-c", 1.0) == 3.5


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


def removal_logged(server: launcher.ServerHandle, sequence_id: int) -> bool:
    """True once the idle cleaner has logged removing `sequence_id`."""
    return f"Removing sequence with id: {sequence_id} on" in server.log_text()


def listed(server: launcher.ServerHandle) -> dict[int, dict]:
    """The summator's live sequences by id, read through introspection."""
    url = server.rest_url + "/admin/models/summator/sequences"
    with urllib.request.urlopen(url, timeout=10) as response:
        rows = json.loads(response.read())["sequences"]
    return {int(row["sequence_id"]): row for row in rows}


def test_the_idle_cleanup_clock_resumes_where_it_stopped(tmp_path):
    """A sequence marked idle by a scan before the stop is removed by the first scan after the
    restart; one that was not marked needs two scans, as if the server had never stopped."""
    cleaner = 4
    snapshots = tmp_path / "snapshots"
    config = models_config(cleanup=True)
    flags = ["--sequence_introspection"]
    marked, unmarked = 11, 12
    with (
        snapshot_server(
            tmp_path / "repo", snapshots, *flags, config=config, cleaner_seconds=cleaner
        ) as server,
        grpc.insecure_channel(server.grpc_address) as channel,
    ):
        up = time.monotonic()  # the cleaner starts with the server: scans at 4 s, 8 s, ...
        step(channel, "summator", marked, np.ones((1, 1), np.float32), START)
        time.sleep(max(0.0, up + 1.3 * cleaner - time.monotonic()))  # after scan 1 marked it
        step(channel, "summator", unmarked, np.ones((1, 1), np.float32), START)
        before = listed(server)
        assert set(before) == {marked, unmarked}
    assert not removal_logged(server, marked)
    # The snapshot holds the marks: scan 1 marked the first sequence, the second came after it.
    records = decode((snapshots / SNAPSHOT).read_bytes())
    assert {r.sequence_id: r.idle_marked for r in records} == {marked: True, unmarked: False}
    with snapshot_server(
        tmp_path / "repo", snapshots, *flags, config=config, cleaner_seconds=cleaner
    ) as server:
        after = listed(server)
        assert set(after) == {marked, unmarked}
        # Idle time resumes from the value saved (the time the server was down is not counted).
        assert after[marked]["idle_seconds"] >= before[marked]["idle_seconds"]
        wait_for(lambda: removal_logged(server, marked), 3 * cleaner, "the first scan")
        assert unmarked in listed(server)  # same scan: only marked now; removed at the next one
        wait_for(lambda: removal_logged(server, unmarked), 3 * cleaner, "the second scan")
        assert listed(server) == {}


def test_snapshot_flags_are_checked_with_clear_messages(tmp_path):
    model = ["--model_name", "m", "--model_path", str(tmp_path), "--port", "9", "--stateful"]
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    cases = [
        (["--sequence_snapshot_path", str(a_file)], f"directory: {a_file} is not one"),
        (["--sequence_snapshot_interval_seconds", "5"], INTERVAL_NEEDS_SNAPSHOT_PATH),
        (["--sequence_snapshot_path="], "sequence_snapshot_path must not be empty"),
        (["--sequence_snapshot_interval_seconds", "-1"], "Argument \u2018-1\u2019 failed to parse"),
        (["--sequence_introspection", "false"], "unmatched arguments: false"),
    ]
    for flags, message in cases:
        with pytest.raises(UsageError, match=re.escape(message)):
            parse_args([*model, *flags])
    result = run_server_command(*model, "--sequence_snapshot_path", str(a_file))
    assert result.returncode == 64
    assert (
        result.stderr.strip() == f"sequence_snapshot_path must be a directory: {a_file} is not one"
    )


def test_a_snapshot_folder_that_cannot_be_made_stops_startup(tmp_path):
    write_model_repository(build_summator(), tmp_path, "summator")
    (tmp_path / "a_file").write_text("x")
    folder = tmp_path / "a_file" / "snapshots"
    args = launcher.model_server_args(
        tmp_path, "summator", stateful=True, extra=["--sequence_snapshot_path", str(folder)]
    )
    result = run_server_command("--port", str(launcher.free_port()), *args)
    assert result.returncode == 1
    assert f"Could not create the sequence snapshot folder {folder}" in result.stderr


# --- in-process: the manager's side of a restore, and the file format ------------------------


def loaded_manager(root: Path, limit: int = 10) -> ModelManager:
    """A model manager serving the summator (stateful, `limit` sequences) in this process."""
    write_model_repository(build_summator(), root, "summator")
    manager = ModelManager(ov.Core())
    config = ModelConfig("summator", root / "summator", stateful=True, max_sequence_number=limit)
    manager.apply([config])
    return manager


def summator_record(
    sequence_id: int, total: float, marked: bool, name: str = "sum"
) -> SequenceRecord:
    """A snapshot record of a summator sequence whose running sum is `total`."""
    state = {name: np.full((1, 1), total, np.float32)}
    return SequenceRecord("summator", 1, sequence_id, 3, 2.5, marked, state)


def test_restored_sequences_keep_their_marks_and_respect_the_limit(tmp_path, caplog):
    manager = loaded_manager(tmp_path, limit=3)
    records = [summator_record(1, 5.0, True), summator_record(2, 6.0, False)]
    records += [summator_record(3, 7.0, False, name="other"), summator_record(4, 8.0, False)]
    records += [summator_record(5, 9.0, False)]
    with caplog.at_level(logging.INFO, "model_server.snapshots"):
        assert restore(manager, records) == 3
    assert "discarded 1 sequence(s) of model summator, version: 1: their states" in caplog.text
    assert (
        "discarded 1 sequence(s) of model summator, version: 1: max_sequence_number" in caplog.text
    )
    sequences = manager.resolve("summator").sequences
    assert sequences is not None
    assert [(s.sequence_id, s.idle, s.steps) for s in sequences.live()] == [
        (1, True, 3),
        (2, False, 3),
        (4, False, 3),
    ]
    # OVMS's two-scan rule carries on: the marked one goes at the next scan, the others after.
    assert sequences.remove_idle() == [1]
    assert sorted(sequences.remove_idle()) == [2, 4]
    # What was collected is what the manager holds now: nothing.
    assert collect(manager) == []


def test_collect_reads_sequence_state_and_the_idle_time(tmp_path):
    manager = loaded_manager(tmp_path)
    restore(manager, [summator_record(9, 4.0, False)])
    (record,) = collect(manager)
    assert (record.model, record.version, record.sequence_id, record.steps) == ("summator", 1, 9, 3)
    assert record.states["sum"].tolist() == [[4.0]] and not record.idle_marked
    assert 2.5 <= record.idle_seconds < 60


def test_the_file_format_round_trips_dtypes_shapes_and_ids():
    rng = np.random.default_rng(0)
    states = {
        "f32": rng.standard_normal((2, 3)).astype(np.float32),
        "f16": rng.standard_normal(4).astype(np.float16),
        "i64": np.array([[-(2**62), 2**62]], np.int64),
        "u8": np.arange(6, dtype=np.uint8).reshape(1, 2, 3),
        "flag": np.array([True, False]),
        "empty": np.zeros((1, 0, 8), np.float32),
        "big_endian": np.arange(3, dtype=">i4"),
    }
    record = SequenceRecord("m", 7, UINT64_MAX, 42, 1.25, True, states)
    (back,) = decode(encode([record], 0.0))
    assert (back.model, back.version, back.sequence_id, back.steps) == ("m", 7, UINT64_MAX, 42)
    assert (back.idle_seconds, back.idle_marked) == (1.25, True)
    assert list(back.states) == list(states)
    for name, array in states.items():
        assert back.states[name].dtype == array.dtype and back.states[name].shape == array.shape
        np.testing.assert_array_equal(back.states[name], array)
        assert back.states[name].flags.writeable  # its own memory, not a view of the file


def test_names_round_trip_and_are_restored_into_the_name_map(tmp_path, caplog):
    named = [
        summator_record(2**63, 1.5, False),
        summator_record(2**63 + 1, 2.5, True),
        summator_record(2**63 + 2, 3.5, False),
    ]
    for record, name in zip(named, ("sensor-a", "sensor-b", "sensor-a"), strict=True):
        record.name = name
    plain = summator_record(7, 4.5, False)
    back = decode(encode([*named, plain], 0.0))
    assert [(r.sequence_id, r.name) for r in back] == [
        (2**63, "sensor-a"),
        (2**63 + 1, "sensor-b"),
        (2**63 + 2, "sensor-a"),
        (7, None),
    ]
    manager = loaded_manager(tmp_path)
    with caplog.at_level(logging.INFO, "model_server.snapshots"):
        assert restore(manager, back) == 3  # the second "sensor-a" finds its name taken
    sequences = manager.resolve("summator").sequences
    assert sequences is not None
    assert sequences.named_ids() == {"sensor-a": 2**63, "sensor-b": 2**63 + 1}
    assert sorted(s.sequence_id for s in sequences.live()) == [7, 2**63, 2**63 + 1]
    # Collected again, the names are in the records.
    assert sorted((r.sequence_id, r.name) for r in collect(manager)) == [
        (7, None),
        (2**63, "sensor-a"),
        (2**63 + 1, "sensor-b"),
    ]
    # Idle cleanup drops the name with its sequence.
    assert sequences.remove_idle() == [2**63 + 1]
    assert sequences.named_ids() == {"sensor-a": 2**63}


@pytest.mark.parametrize(
    ("name", "reason"),
    [(b'""', "name must not be an empty string"), (b"5", "name has the wrong type: int")],
)
def test_a_bad_name_is_refused(name, reason):
    record = summator_record(2**63, 1.0, False)
    record.name = "x"
    data = header_replaced(encode([record], 0.0), b'"name": "x"', b'"name": ' + name)
    with pytest.raises(SnapshotError, match=re.escape(reason)):
        decode(data)


def test_a_sigterm_under_load_keeps_every_acknowledged_step(tmp_path):
    """The snapshot at shutdown comes after the drain: every step a client saw answered is in it."""
    snapshots = tmp_path / "snapshots"
    ids = list(range(1, 9))
    with snapshot_server(tmp_path / "repo", snapshots) as server:
        steppers = [Stepper(server.grpc_address, ids[k::2]) for k in range(2)]
        for stepper in steppers:
            stepper.start()
        wait_for(lambda: all(len(s.acknowledged[s.ids[-1]]) > 20 for s in steppers), 30, "steps")
        server.stop()
        for stepper in steppers:
            stepper.join(20)
    acknowledged = {i: len(t) for s in steppers for i, t in s.acknowledged.items()}
    with (
        snapshot_server(tmp_path / "repo", snapshots) as server,
        grpc.insecure_channel(server.grpc_address) as channel,
    ):
        for sequence_id, count in acknowledged.items():
            kept = int(step(channel, "summator", sequence_id, np.zeros((1, 1), np.float32))[0, 0])
            # A step applied while its client was already gone could add one; none is lost.
            assert count <= kept <= count + 1, (sequence_id, count, kept)


def test_single_model_mode_snapshots_too(tmp_path):
    snapshots = tmp_path / "snapshots"
    flags = ["--sequence_snapshot_path", str(snapshots)]
    models = {"summator": build_summator()}
    for expected in (5.0, 12.0):
        with (
            serve_repository(
                tmp_path, models, model_name="summator", file_poll_seconds=0, extra_args=flags
            ) as server,
            grpc.insecure_channel(server.grpc_address) as channel,
        ):
            control = START if expected == 5.0 else None
            x = np.full((1, 1), 5.0 if control else 7.0, np.float32)
            assert step(channel, "summator", 42, x, control)[0, 0] == expected
    assert "Sequence snapshot: wrote 1 sequence(s)" in server.log_text()
