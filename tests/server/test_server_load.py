"""Load: hundreds of concurrent sequences from 32 threads, every output checked, memory returned.

`make soak` runs the same load at full size (500 sequences x 200 steps) and prints the figures;
these tests run a bounded version of it.
"""

from collections.abc import Iterator
from dataclasses import replace

import grpc
import pytest

from benchmarks.load import (
    LOAD_BATCHING,
    LOAD_LSTM_WEIGHTS,
    LoadPlan,
    lstm_cell_load_model,
    run_load,
    summator_load_model,
    write_load_repository,
)
from benchmarks.memory import rss_mb, settled_rss_mb
from helpers.serving import launcher
from tests.server.support.servers import serve_repository

LIMIT = 500
CLEANER_SECONDS = 1  # the cleaner's timer also returns freed heap memory to the OS
BOUNDED = LoadPlan(sequences=LIMIT, steps=12, threads=32, seed=7, limit=LIMIT, provoke_every=20)


@pytest.fixture(scope="module")
def load_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[launcher.ServerHandle]:
    """A server for the load tests only, so its sequences and memory are its own."""
    root = tmp_path_factory.mktemp("load_repo")
    names = write_load_repository(root, LIMIT, LOAD_BATCHING)
    with serve_repository(
        root,
        available=names,
        cleaner_seconds=CLEANER_SECONDS,
        file_poll_seconds=0,
        extra_args=["--kserve_sequence_extension"],  # for the load over streams
    ) as handle:
        yield handle


@pytest.fixture(scope="module")
def load_channel(load_server: launcher.ServerHandle) -> Iterator[grpc.Channel]:
    """One channel shared by all client threads, as a multi-threaded client would."""
    with grpc.insecure_channel(load_server.grpc_address) as channel:
        yield channel


def assert_clean(report: object, server: launcher.ServerHandle) -> None:
    """Nothing wrong, lost or unexpected, and the server still running with a clean log."""
    assert report.ok, (
        report.summary() + "\n" + "\n".join(report.failure_samples + report.provoked_wrong)
    )
    assert server.is_running()
    log = server.log_text()
    assert "Traceback" not in log and "Unexpected error" not in log


def test_500_sequences_on_the_summator_lose_nothing(load_server, load_channel):
    report = run_load(load_channel, summator_load_model("sum"), BOUNDED)
    assert_clean(report, load_server)
    # START, 11 more steps, then START and END again on fresh ids: every one checked.
    assert report.steps_checked == LIMIT * BOUNDED.steps + 2 * LIMIT
    assert report.limit_refused is True
    assert sum(report.provoked.values()) > 0


def test_lstm_cell_sequences_match_the_numpy_lstm(load_server, load_channel):
    plan = replace(BOUNDED, sequences=200, limit=None, seed=8)
    report = run_load(load_channel, lstm_cell_load_model("lstm", LOAD_LSTM_WEIGHTS), plan)
    assert_clean(report, load_server)
    assert report.steps_checked == 200 * plan.steps + 2 * 200


def test_batched_sequences_lose_nothing_and_match_numpy(load_server, load_channel):
    for number, model in enumerate(
        (summator_load_model("sum_b"), lstm_cell_load_model("lstm_b", LOAD_LSTM_WEIGHTS))
    ):
        plan = replace(BOUNDED, sequences=200, limit=None, seed=20 + number)
        report = run_load(load_channel, model, plan)
        assert_clean(report, load_server)
        assert report.steps_checked == 200 * plan.steps + 2 * 200


def test_sequences_over_kserve_streams_lose_nothing_and_match_numpy(load_server, load_channel):
    """The same load with one ModelStreamInfer stream per client thread (ours), batching on,
    provoked errors included (judged by their message, which is all a stream reply carries)."""
    for number, model in enumerate(
        (summator_load_model("sum_b"), lstm_cell_load_model("lstm_b", LOAD_LSTM_WEIGHTS))
    ):
        plan = replace(BOUNDED, sequences=200, limit=None, seed=40 + number, over_streams=True)
        report = run_load(load_channel, model, plan)
        assert_clean(report, load_server)
        assert report.steps_checked == 200 * plan.steps + 2 * 200
        assert sum(report.provoked.values()) > 0


def test_the_checker_notices_wrong_outputs(load_server, load_channel):
    """The load's own check must be able to fail: an off-by-one reference is caught."""
    honest = summator_load_model("sum")
    off_by_one = replace(honest, expected_outputs=lambda xs: honest.expected_outputs(xs) + 1)
    plan = LoadPlan(sequences=20, steps=3, threads=4, seed=9, provoke_every=0)
    report = run_load(load_channel, off_by_one, plan)
    assert report.wrong_count == report.steps_checked == 20 * 3 + 2 * 20
    assert not report.ok and not report.unexpected


def test_memory_returns_to_its_baseline(load_server, load_channel):
    model = summator_load_model("sum")
    warm_up = replace(BOUNDED, steps=4, seed=10, provoke_every=0)
    run_load(load_channel, model, warm_up)  # grows the server's pools and arenas once
    baseline = settled_rss_mb(load_server.process.pid, CLEANER_SECONDS)
    peaks = []
    for round_number in range(3):
        report = run_load(load_channel, model, replace(warm_up, seed=20 + round_number))
        assert report.ok
        peaks.append(rss_mb(load_server.process.pid))
    after = settled_rss_mb(load_server.process.pid, CLEANER_SECONDS)
    # Three more rounds of 500 sequences leave no lasting growth beyond allocator noise.
    assert after <= baseline + max(8.0, 0.05 * baseline), (baseline, peaks, after)
