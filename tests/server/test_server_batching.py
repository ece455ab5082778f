"""Sequence batching (an extension): results equal the unbatched path and NumPy, per sequence;
the spec's sequence rules hold; models that cannot be batched fail to load with the reason.

Part of the conformance suite runs again here against a server whose stateful models all batch
(the `main_server` and `channel` fixtures below override the shared ones for this module).
"""

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest
from openvino import passes

from helpers.model_server.config.cli import (
    BATCHING_FLAGS_NEED_STATEFUL,
    CLI_EXCLUSIVE_WITH_CONFIG,
    UsageError,
    parse_args,
)
from helpers.model_server.config.model_config import (
    BATCHING_INVALID,
    BATCHING_NEEDS_STATEFUL,
    ModelConfigError,
    SequenceBatching,
    model_config_from_entry,
)
from helpers.model_server.core.batch_runner import Row
from helpers.model_server.core.batcher import SequenceBatcher
from helpers.model_server.core.sequences import Sequence
from helpers.models.recurrent import (
    build_lstm_tensor_iterator,
    build_stateful_lstm_cell,
    random_gru_weights,
    random_lstm_weights,
)
from helpers.models.recurrent_reference import gru_reference, lstm_reference
from helpers.models.summator import build_summator
from helpers.serving import launcher
from helpers.serving.protocol import EXACT_F32, Control
from tests.server.support.batching_models import (
    build_growing_state,
    build_made_stateful_lstm,
    build_stateful_gru_cell,
)
from tests.server.support.models import (
    MAIN_CLEANER_SECONDS,
    MAIN_MODELS,
    build_dummy,
    build_tensor_iterator_lstm,
)
from tests.server.support.requests import (
    END,
    START,
    output,
    predict,
    predict_error,
    request,
)
from tests.server.support.servers import run_server_command, serve_repository

# The conformance tests that run again with batching on (pytest collects them in this module).
from tests.server.test_server_grpc_flow import (  # noqa: F401
    test_ended_sequence_is_gone_and_its_id_is_free,
    test_generated_ids_follow_the_ovms_counter,
    test_max_sequence_number_is_checked_before_the_id_conflict,
    test_normal_flow_gives_running_sums_and_echoes_the_id,
    test_start_on_a_live_id_fails_and_leaves_its_state,
    test_stateful_model_without_variables_runs_sequences,
    test_tensor_content_data_is_accepted,
    test_unknown_id_is_missing,
)
from tests.server.test_server_sequences import (  # noqa: F401
    test_30_threads_by_25_steps_give_exact_sums,
    test_concurrent_requests_on_one_sequence_lose_no_update,
    test_idle_sequences_are_removed_by_two_scans_and_active_ones_kept,
    test_low_latency_transformation_streams_a_tensor_iterator,
    test_without_low_latency_each_step_starts_from_zero,
)

BATCHING = {"max_batch_size": 8, "max_queue_delay_microseconds": 2000}
LSTM = random_lstm_weights(4, 16, seed=3)
GRU = random_gru_weights(4, 16, seed=4)
HEAD = np.random.default_rng(5).uniform(-0.5, 0.5, (2, 16)).astype(np.float32)
NB05 = random_lstm_weights(4, 16, seed=6)


def _low_latency(model):
    """LowLatency2 in place (notebook 04's streaming model); the model is returned."""
    manager = passes.Manager()
    manager.register_pass(passes.LowLatency2())
    manager.run_passes(model)
    return model


# name -> (model, config extras, input shapes, outputs compared)
PAIRS = {
    "sum": (build_summator(), {}, {"x": (1, 1)}, ["y"]),
    "lstm": (build_stateful_lstm_cell(LSTM), {"plugin_config": EXACT_F32}, {"x": (1, 4)}, ["y"]),
    "gru": (build_stateful_gru_cell(GRU), {"plugin_config": EXACT_F32}, {"x": (1, 4)}, ["y"]),
    "ti": (
        build_tensor_iterator_lstm(steps=1),
        {"plugin_config": EXACT_F32, "low_latency_transformation": True},
        {"X": (1, 1, 3)},
        ["Y"],
    ),
    "nb03": (
        build_made_stateful_lstm(LSTM, HEAD),
        {"plugin_config": EXACT_F32},
        {"x": (1, 4)},
        ["y"],
    ),
    "nb05": (
        build_lstm_tensor_iterator(NB05, 1),
        {"plugin_config": EXACT_F32, "low_latency_transformation": True},
        {"X": (1, 1, 4), "H0": (1, 16), "C0": (1, 16)},
        ["Y"],
    ),
}


@pytest.fixture(scope="module")
def pair_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[launcher.ServerHandle]:
    """Every model of PAIRS twice: `<name>` unbatched and `<name>_b` batched."""
    config = []
    for name, (_, extra, _, _) in PAIRS.items():
        common = {"base_path": name, "stateful": True, **extra}
        config += [
            {"name": name, **common},
            {"name": f"{name}_b", **common, "sequence_batching": BATCHING},
        ]
    models = {name: entry[0] for name, entry in PAIRS.items()}
    with serve_repository(
        tmp_path_factory.mktemp("pairs"), models, config, file_poll_seconds=0, debug_log=True
    ) as handle:
        yield handle


def _inputs(name: str, sequences: int, steps: int) -> list[list[dict[str, np.ndarray]]]:
    """Seeded inputs [sequence][step] for a model of PAIRS (small integers for the summator)."""
    rng = np.random.default_rng(len(name))
    shapes = PAIRS[name][2]
    if name == "sum":
        draw = lambda shape: rng.integers(-100, 101, shape).astype(np.float32)  # noqa: E731
    else:
        draw = lambda shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    return [
        [{k: draw(s) for k, s in shapes.items()} for _ in range(steps)] for _ in range(sequences)
    ]


def _run(channel, model, steps, sequence_id, names, bad_every=0):
    """One sequence START..END; its outputs per step (bad requests in between must fail)."""
    outputs = []
    for index, inputs in enumerate(steps):
        control = START if index == 0 else END if index == len(steps) - 1 else None
        if bad_every and index % bad_every == 1:
            wrong = {
                k: np.zeros((*v.shape[:-1], v.shape[-1] + 1), v.dtype) for k, v in inputs.items()
            }
            code, details = predict_error(channel, request(model, wrong, sequence_id))
            assert (code, details.split(" - ")[0]) == (
                grpc.StatusCode.INVALID_ARGUMENT,
                "Invalid input shape",
            )
        response = predict(channel, request(model, inputs, sequence_id, control))
        outputs.append({n: output(response, n) for n in names})
    return outputs


@pytest.mark.parametrize("name", list(PAIRS))
def test_batched_results_equal_the_unbatched_path_per_sequence(pair_server, name):
    sequences, steps = 12, 8
    names = PAIRS[name][3]
    inputs = _inputs(name, sequences, steps)
    with grpc.insecure_channel(pair_server.grpc_address) as channel:
        with ThreadPoolExecutor(sequences) as pool:
            batched = list(
                pool.map(
                    lambda i: _run(channel, f"{name}_b", inputs[i], 500 + i, names, bad_every=3),
                    range(sequences),
                )
            )
        unbatched = [_run(channel, name, inputs[i], 500 + i, names) for i in range(sequences)]
    for got, want in zip(batched, unbatched, strict=True):
        for got_step, want_step in zip(got, want, strict=True):
            for n in names:
                assert got_step[n].shape == want_step[n].shape
                np.testing.assert_allclose(got_step[n], want_step[n], rtol=0, atol=1e-5)
    if name == "sum":  # small integers: the running sums are exact
        for got, xs in zip(batched, inputs, strict=True):
            sums = np.cumsum([step["x"].item() for step in xs])
            assert [step["y"].item() for step in got] == sums.tolist()
    if name in ("lstm", "gru"):
        for got, xs in zip(batched, inputs, strict=True):
            x = np.concatenate([step["x"] for step in xs])
            zeros = np.zeros(16)
            ref = (
                lstm_reference(x, LSTM, zeros, zeros)[0]
                if name == "lstm"
                else gru_reference(x, GRU, zeros)
            )
            np.testing.assert_allclose(np.concatenate([s["y"] for s in got]), ref, atol=1e-5)
    assert "Running a batch of" in pair_server.log_text()


def test_steps_of_different_sequences_shared_batches(pair_server):
    with grpc.insecure_channel(pair_server.grpc_address) as channel:
        inputs = _inputs("sum", 8, 4)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: _run(channel, "sum_b", inputs[i], 900 + i, ["y"]), range(8)))
    sizes = [
        int(line.split("batch of ")[1].split()[0])
        for line in pair_server.log_text().splitlines()
        if "batch of" in line
    ]
    assert sizes and max(sizes) >= 2 and max(sizes) <= BATCHING["max_batch_size"]


def _load_failure(tmp_path: Path, model, extra: list[str]) -> str:
    """Serve `model` alone with batching; the server must exit with 1; its log is returned."""
    from helpers.serving.repository import write_model_repository

    write_model_repository(model, tmp_path, "m")
    result = run_server_command(
        "--model_name",
        "m",
        "--model_path",
        str(tmp_path / "m"),
        "--port",
        str(launcher.free_port()),
        "--stateful",
        "--sequence_batching_max_batch_size",
        "4",
        *extra,
    )
    assert result.returncode == 1
    return result.stderr


def test_a_batch_baked_into_a_reshape_fails_the_load_with_the_reason(tmp_path):
    flat = build_lstm_tensor_iterator(NB05, 1, hardcoded_reshape=True)
    log = _load_failure(tmp_path, flat, ["--low_latency_transformation"])
    assert (
        "Sequence batching is not possible for this model: output Y does not follow the batch axis"
        in log
    )


def test_a_growing_state_fails_the_load_with_the_reason(tmp_path):
    log = _load_failure(tmp_path, build_growing_state(), [])
    assert "state history has a dynamic dimension" in log
    assert "sequence batching serves only states and inputs of a fixed size" in log


def test_batching_config_is_parsed_and_checked(tmp_path):
    entry = {"name": "m", "stateful": True, "sequence_batching": {"max_batch_size": 16}}
    assert model_config_from_entry(entry, tmp_path).sequence_batching == SequenceBatching(16, 0)
    for bad in ({}, {"max_batch_size": 0}, {"max_batch_size": 2, "x": 1}, {"max_batch_size": True}):
        with pytest.raises(ModelConfigError, match=BATCHING_INVALID[:30]):
            model_config_from_entry({**entry, "sequence_batching": bad}, tmp_path)
    with pytest.raises(ModelConfigError, match=BATCHING_NEEDS_STATEFUL):
        model_config_from_entry({"name": "m", "sequence_batching": {"max_batch_size": 2}}, tmp_path)
    assert (
        model_config_from_entry({"name": "m", "stateful": True}, tmp_path).sequence_batching is None
    )


def test_batching_flags_need_stateful_and_single_model_mode():
    model = ["--model_name", "m", "--model_path", "/m", "--port", "9000"]
    flags = [
        "--sequence_batching_max_batch_size",
        "8",
        "--sequence_batching_max_queue_delay_microseconds",
        "100",
    ]
    settings = parse_args([*model, "--stateful", *flags])
    assert (
        settings.sequence_batching_max_batch_size,
        settings.sequence_batching_max_queue_delay_microseconds,
    ) == (8, 100)
    with pytest.raises(UsageError, match=BATCHING_FLAGS_NEED_STATEFUL):
        parse_args([*model, *flags])
    with pytest.raises(UsageError, match=CLI_EXCLUSIVE_WITH_CONFIG):
        parse_args(["--config_path", "/c.json", "--port", "9000", "--stateful", *flags])


class _RecordingRunner:
    """A runner that adds 1 to each row's state `s`, records batches, and fails marked rows."""

    def __init__(self) -> None:
        self.states: list = [type("S", (), {"name": "s", "shape": (1, 1)})()]
        self.batches: list[list[float]] = []
        self.lock = threading.Lock()

    def run(self, rows: list[Row]) -> None:
        with self.lock:
            self.batches.append([float(r.arrays["x"].item()) for r in rows])
        for row in rows:
            if row.arrays["x"].item() < 0:
                row.error = RuntimeError("bad row")  # type: ignore[assignment]
                continue
            before = np.zeros((1, 1)) if row.start else row.state["s"]
            row.next_state = {"s": before + 1}
            row.outputs = {"y": before + row.arrays["x"]}


def test_batcher_keeps_each_sequence_in_order_and_isolates_a_failing_row():
    runner = _RecordingRunner()
    batcher = SequenceBatcher(runner, max_batch_size=4, max_queue_delay=0.002)  # type: ignore[arg-type]
    sequences = [Sequence(i) for i in range(10)]
    failures = []

    def drive(sequence: Sequence) -> None:
        for step in range(20):
            control = Control.SEQUENCE_START if step == 0 else Control.NO_CONTROL
            x = -1.0 if step == 7 and sequence.sequence_id == 3 else float(step)
            with sequence.lock:
                try:
                    out = batcher.step(sequence, {"x": np.full((1, 1), x)}, control)
                except RuntimeError:
                    failures.append((sequence.sequence_id, step))
                    continue
            # the state counts the successful steps before this one
            done_before = step if not (sequence.sequence_id == 3 and step > 7) else step - 1
            assert out["y"].item() == done_before + x

    threads = [threading.Thread(target=drive, args=(s,)) for s in sequences]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == [(3, 7)]
    assert sum(len(b) for b in runner.batches) == 10 * 20
    assert max(len(b) for b in runner.batches) > 1
    assert all(s.state["s"].item() == (19 if s.sequence_id == 3 else 20) for s in sequences)


# The conformance tests imported above run against this server: MAIN_MODELS, all batching.
@pytest.fixture(scope="module")
def main_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[launcher.ServerHandle]:
    """The shared tests' server, with sequence batching on every stateful model."""
    models = {
        "summator": build_summator(),
        "dummy": build_dummy(),
        "ti_ll": build_tensor_iterator_lstm(steps=1),
    }
    config = [
        {**entry, "sequence_batching": BATCHING} if entry.get("stateful") else entry
        for entry in MAIN_MODELS
    ]
    with serve_repository(
        tmp_path_factory.mktemp("main_batched"),
        models,
        config,
        cleaner_seconds=MAIN_CLEANER_SECONDS,
        file_poll_seconds=0,
        debug_log=True,
    ) as handle:
        yield handle


@pytest.fixture(scope="module")
def channel(main_server: launcher.ServerHandle) -> Iterator[grpc.Channel]:
    """A gRPC channel to the batched main server."""
    with grpc.insecure_channel(main_server.grpc_address) as chan:
        yield chan


def test_the_batched_main_server_batches(channel, main_server):
    values = [[float(v) for v in range(5)] for _ in range(6)]
    with ThreadPoolExecutor(6) as pool:
        list(
            pool.map(
                lambda i: _run(
                    channel,
                    "summator",
                    [{"x": np.full((1, 1), v, np.float32)} for v in values[i]],
                    7000 + i,
                    ["y"],
                ),
                range(6),
            )
        )
    assert "Running a batch of" in main_server.log_text()
