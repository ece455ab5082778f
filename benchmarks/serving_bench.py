"""`make bench`: the serving benchmarks (issue 4), measured in one run, as ratios in results.md.

1. Start to AVAILABLE and server RSS with the summator.
2. A summator step over gRPC vs (a gRPC echo of the same request + the in-process step).
3. 64 concurrent sequences of a stateful LSTM cell (H=1024) vs min(in-process loop, echo at 64).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers.model_server.process.light_tensorflow import install_light_tensorflow_namespace

install_light_tensorflow_namespace()

import grpc  # noqa: E402
import numpy as np  # noqa: E402
import openvino as ov  # noqa: E402
from tensorflow_serving.apis.prediction_service_pb2_grpc import (  # noqa: E402
    PredictionServiceStub,
)

from benchmarks.memory import peak_rss_mb, rss_mb  # noqa: E402
from helpers.models.recurrent import build_stateful_lstm_cell, random_lstm_weights  # noqa: E402
from helpers.models.summator import build_summator  # noqa: E402
from helpers.paths import REPO_ROOT  # noqa: E402
from helpers.serving import launcher  # noqa: E402
from helpers.serving.client import predict_request  # noqa: E402
from helpers.serving.protocol import Control  # noqa: E402
from helpers.serving.repository import write_model_repository  # noqa: E402
from helpers.timing.step_times import time_calls  # noqa: E402

RESULTS = REPO_ROOT / "benchmarks" / "results.md"


@contextmanager
def echo_server() -> Iterator[str]:
    """Run the echo server until the block ends; yield its address once it answers."""
    port = launcher.free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    command = [sys.executable, "-m", "benchmarks.echo_server", "--port", str(port)]
    process = subprocess.Popen(command, env=env)
    address = f"{launcher.LOOPBACK}:{port}"
    try:
        with grpc.insecure_channel(address) as probe:
            grpc.channel_ready_future(probe).result(timeout=30)
        yield address
    finally:
        process.terminate()
        process.wait()


@contextmanager
def served_and_echo(
    server: launcher.ServerHandle,
) -> Iterator[tuple[PredictionServiceStub, PredictionServiceStub]]:
    """PredictionService stubs of `server` and of an echo server; both servers stop afterwards."""
    with (
        server,
        echo_server() as echo_address,
        grpc.insecure_channel(server.grpc_address) as served,
        grpc.insecure_channel(echo_address) as echoed,
    ):
        yield PredictionServiceStub(served), PredictionServiceStub(echoed)


def throughput(threads: int, seconds: float, work: Callable[[int], Callable[[], None]]) -> float:
    """Calls per second of `threads` threads, each running its own step function for `seconds`."""
    steps = [0] * threads
    stop = threading.Event()
    barrier = threading.Barrier(threads + 1)

    def run(index: int) -> None:
        step = work(index)
        barrier.wait()
        while not stop.is_set():
            step()
            steps[index] += 1

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    start_counts, start = sum(steps), time.perf_counter()
    time.sleep(seconds)
    done, elapsed = sum(steps) - start_counts, time.perf_counter() - start
    stop.set()
    for thread in pool:
        thread.join()
    return done / elapsed


def in_process_step(model: ov.Model, x: np.ndarray) -> Callable[[], None]:
    """The minimal in-process stateful step: write the input, infer, copy the output."""
    compiled = ov.Core().compile_model(model, "CPU", {"PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    view = request.get_tensor("x").data
    output = compiled.output(0)

    def step() -> None:
        view[...] = x
        request.infer()
        request.get_tensor(output).data.copy()

    return step


def idle_gap_median(step: Callable[[], None], gap: float, steps: int) -> float:
    """Median µs of `step` when each call follows `gap` seconds of idling (diagnostic only)."""
    durations = []
    clock = time.perf_counter_ns
    for _ in range(steps):
        time.sleep(gap)
        start = clock()
        step()
        durations.append(clock() - start)
    return float(np.median(durations)) / 1e3


def bench_summator(repo: Path, steps: int, rounds: int) -> list[tuple[str, str, str]]:
    """Start-up, RSS and single-step latency with the summator."""
    write_model_repository(build_summator(), repo, "summator")
    args = launcher.model_server_args(repo, "summator", stateful=True)
    start = time.perf_counter()
    server = launcher.start_server(repo, ["summator"], args)
    startup = time.perf_counter() - start
    rows = []
    medians: list[tuple[float, float, float]] = []
    gapped: list[float] = []
    x = np.ones((1, 1), np.float32)
    with served_and_echo(server) as (served_stub, echo_stub):
        served_stub.Predict(predict_request("summator", {"x": x}, 1, Control.SEQUENCE_START))
        request = predict_request("summator", {"x": x}, 1)
        local_step = in_process_step(build_summator(), x)
        # Interleaved rounds, so that load from other processes hits all three alike.
        for _ in range(rounds):
            served_t = time_calls("served", lambda: served_stub.Predict(request), steps, 200)
            echo_t = time_calls("echo", lambda: echo_stub.Predict(request), steps, 200)
            local_t = time_calls("in-process", local_step, steps, 200)
            medians.append((served_t.median, echo_t.median, local_t.median))
            gapped.append(idle_gap_median(local_step, echo_t.median / 1e6, steps // 2))
        rss, peak = rss_mb(server.pid), peak_rss_mb(server.pid)
    ratios = sorted(served / (echo + local) for served, echo, local in medians)
    served, echo, local = sorted(medians, key=lambda m: m[0] / (m[1] + m[2]))[len(medians) // 2]
    rows.append(("Server start to AVAILABLE (summator)", f"{startup:.2f} s", "≤ 2 s"))
    rows.append(
        ("Server RSS after the step benchmark (peak)", f"{rss:.0f} MB ({peak:.0f} MB)", "≤ 300 MB")
    )
    rows.append(
        (
            f"Summator step over gRPC (median of {rounds} interleaved rounds)",
            f"{served:.0f} µs = {ratios[len(ratios) // 2]:.2f} x (echo {echo:.0f} µs + "
            f"in-process {local:.0f} µs); rounds {ratios[0]:.2f} to {ratios[-1]:.2f} x",
            "≤ 1.3 x",
        )
    )
    cold = float(np.median(gapped))
    rows.append(
        (
            "Diagnostic: in-process step after an idle gap of one echo round trip (median)",
            f"{cold:.0f} µs; served ≈ {served / (echo + cold):.2f} x (echo + this)",
            "(info)",
        )
    )
    return rows


def bench_lstm(repo: Path, seconds: float, clients: int, rounds: int) -> list[tuple[str, str, str]]:
    """64 concurrent sequences on a stateful LSTM cell vs the in-process loop and the echo."""
    model = build_stateful_lstm_cell(random_lstm_weights(1024, 1024))
    x = np.random.default_rng(0).standard_normal((1, 1024)).astype(np.float32) * 0.1
    local_step = in_process_step(model, x)
    server = launcher.serve_model(model, "lstm", repo)
    rates: list[tuple[float, float, float]] = []
    with served_and_echo(server) as (served_stub, echo_stub):
        for round_index in range(rounds):
            first_id = 1000 * (round_index + 1)

            def served_work(index: int, first_id: int = first_id) -> Callable[[], None]:
                start = predict_request("lstm", {"x": x}, first_id + index, Control.SEQUENCE_START)
                served_stub.Predict(start)
                request = predict_request("lstm", {"x": x}, first_id + index)
                return lambda: served_stub.Predict(request)

            def echo_work(index: int, first_id: int = first_id) -> Callable[[], None]:
                request = predict_request("lstm", {"x": x}, first_id + index)
                return lambda: echo_stub.Predict(request)

            # Interleaved rounds, so that load from other processes hits all three alike.
            local_rate = throughput(1, seconds, lambda _: local_step)
            echo_rate = throughput(clients, seconds, echo_work)
            served_rate = throughput(clients, seconds, served_work)
            rates.append((served_rate, local_rate, echo_rate))
    ratios = sorted(served / min(local, echo) for served, local, echo in rates)
    served_rate, local_rate, echo_rate = sorted(rates, key=lambda r: r[0] / min(r[1], r[2]))[
        len(rates) // 2
    ]
    return [
        (
            f"LSTM cell H=1024, {clients} concurrent sequences (median of {rounds} rounds)",
            f"{served_rate:.0f} steps/s = {ratios[len(ratios) // 2]:.2f} x min(in-process "
            f"{local_rate:.0f}/s, echo@{clients} {echo_rate:.0f}/s); rounds "
            f"{ratios[0]:.2f} to {ratios[-1]:.2f} x",
            "≥ 0.7 x",
        )
    ]


def main() -> int:
    """Run every benchmark and write the markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = bench_summator(Path(tmp) / "summator_repo", args.steps, args.rounds)
        rows += bench_lstm(Path(tmp) / "lstm_repo", args.seconds, args.clients, args.rounds)
    lines = [
        "# Serving benchmarks (one run, same machine, interleaved rounds)",
        "",
        f"{os.cpu_count()} cores; `make bench` regenerates this file. "
        "Ratios matter, not absolute numbers.",
        "",
        "| Measurement | Result | Target |",
        "|---|---|---|",
        *[f"| {name} | {value} | {target} |" for name, value, target in rows],
        "",
    ]
    RESULTS.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
