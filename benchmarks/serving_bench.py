"""`make bench`: the serving benchmarks, measured the fair way in one run, as ratios in results.md.

See ../shared/notes/serving-performance.md (from the repository root) for why these baselines:
* the transport floor is an echo server in its own process, thread-pool and grpc.aio, the faster;
* in-process means what a user does without a server: one infer request per sequence, default
  precision, PERFORMANCE_HINT=LATENCY, stepped in turn;
* the compute ceiling is the same LSTM step as a stateless model run at batch 64.

1. Start to AVAILABLE and server RSS.
2. A summator step over gRPC (unbatched and with sequence batching) vs (echo + in-process step),
   timed in turns of 50 calls of each kind (the machine's load drifts within seconds); beside it,
   the server's own predict() in this process, hot and after idling (cold_path.py).
3. 64 concurrent LSTM(H=1024) sequences, unbatched and batched: served/echo, served/in-process,
   p50/p99 step latency, and the server CPU time per step beside the echo server's.
Steps sent over an open KServe `ModelStreamInfer` stream (ours, `--kserve_sequence_extension`)
are measured beside the unary ones, against the echo server's own stream and its unary echo.
"""

import argparse
import functools
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from helpers.model_server.process.light_tensorflow import install_light_tensorflow_namespace

install_light_tensorflow_namespace()

import grpc  # noqa: E402
import numpy as np  # noqa: E402
import openvino as ov  # noqa: E402
from tensorflow_serving.apis.prediction_service_pb2_grpc import (  # noqa: E402
    PredictionServiceStub,
)

from benchmarks.cold_path import bench_cold_path  # noqa: E402
from benchmarks.kserve_stream import StreamCaller, kserve_step  # noqa: E402
from benchmarks.memory import peak_rss_mb, rss_mb  # noqa: E402
from helpers.models.recurrent import (  # noqa: E402
    build_lstm_step_model,
    build_stateful_lstm_cell,
    random_lstm_weights,
)
from helpers.models.summator import build_summator  # noqa: E402
from helpers.paths import REPO_ROOT  # noqa: E402
from helpers.serving import launcher  # noqa: E402
from helpers.serving.client import predict_request  # noqa: E402
from helpers.serving.protocol import Control  # noqa: E402
from helpers.serving.repository import write_config, write_model_repository  # noqa: E402
from helpers.timing.step_times import time_alternating  # noqa: E402

RESULTS = REPO_ROOT / "benchmarks" / "results.md"
LATENCY = {"PERFORMANCE_HINT": "LATENCY"}
BLOCK = 50  # calls of one kind per turn when single-call latencies are compared
Row = tuple[str, str, str]


@dataclass(frozen=True)
class Echo:
    """A running echo server: a stub to it, its address and its process id (for its CPU time)."""

    stub: PredictionServiceStub
    address: str
    pid: int


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def echo_server(aio: bool) -> Iterator[Echo]:
    """Run the echo server (thread pool or grpc.aio) in its own process; yield it."""
    port = launcher.free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    command = [sys.executable, "-m", "benchmarks.echo_server", "--port", str(port)]
    process = subprocess.Popen(command + (["--aio"] if aio else []), env=env)
    address = f"{launcher.LOOPBACK}:{port}"
    try:
        with grpc.insecure_channel(address) as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            yield Echo(PredictionServiceStub(channel), address, process.pid)
    finally:
        process.terminate()
        process.wait()


@contextmanager
def served(
    repo: Path, models: dict[str, ov.Model], batch: int
) -> Iterator[tuple[launcher.ServerHandle, PredictionServiceStub, float]]:
    """Serve each model twice, `<name>` unbatched and `<name>_b` batched (max_batch_size
    `batch`, no queue delay), from one config.json; yield the server, a stub and its start-up."""
    config = []
    for name, model in models.items():
        write_model_repository(model, repo, name)
        # Every round starts fresh sequences (unary and streamed) and leaves them open, so the
        # limit must exceed OVMS's default of 500 that several rounds would reach.
        common = {
            "base_path": name,
            "stateful": True,
            "idle_sequence_cleanup": False,
            "max_sequence_number": 10_000,
        }
        batching = {"max_batch_size": batch, "max_queue_delay_microseconds": 0}
        config += [
            {"name": name, **common},
            {"name": f"{name}_b", **common, "sequence_batching": batching},
        ]
    write_config(repo, config)
    names = [str(entry["name"]) for entry in config]
    began = time.perf_counter()
    extension = ["--kserve_sequence_extension"]  # steps over ModelStreamInfer (ours)
    args = launcher.model_server_args(repo, config=True, extra=extension)
    server = launcher.start_server(repo, names, args)
    startup = time.perf_counter() - began
    with server, grpc.insecure_channel(server.grpc_address) as channel:
        yield server, PredictionServiceStub(channel), startup


def throughput(
    threads: int, seconds: float, work: Callable[[int], Callable[[], None]]
) -> tuple[float, np.ndarray]:
    """Calls per second of `threads` threads, each running its own step function for
    `seconds`, and the latency of every call in that window (ms)."""
    steps = [0] * threads
    latencies: list[list[float]] = [[] for _ in range(threads)]
    stop = threading.Event()
    barrier = threading.Barrier(threads + 1)

    def run(index: int) -> None:
        step = work(index)
        barrier.wait()
        clock, mine = time.perf_counter, latencies[index]
        while not stop.is_set():
            began = clock()
            step()
            mine.append(clock() - began)
            steps[index] += 1

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    time.sleep(seconds)
    done, elapsed = sum(steps), time.perf_counter() - start
    stop.set()
    for thread in pool:
        thread.join()
    return done / elapsed, np.concatenate([np.array(x) for x in latencies]) * 1e3


def in_process_steps(model: ov.Model, x: np.ndarray, sequences: int) -> Callable[[], None]:
    """A user's loop without a server: one infer request per sequence, all stepped in turn."""
    compiled = ov.Core().compile_model(model, "CPU", LATENCY)
    requests = [compiled.create_infer_request() for _ in range(sequences)]
    views = [request.get_tensor("x").data for request in requests]
    output = compiled.output(0)

    def round_of_steps() -> None:
        for request, view in zip(requests, views, strict=True):
            view[...] = x
            request.infer()
            request.get_tensor(output).data.copy()

    return round_of_steps


def batched_ceiling(hidden: int, batch: int) -> Callable[[], None]:
    """The LSTM step as a stateless model with explicit state, one inference for `batch` rows."""
    model = build_lstm_step_model(random_lstm_weights(hidden, hidden))
    model.reshape({name: [batch, hidden] for name in ("x", "h_in", "c_in")})
    request = ov.Core().compile_model(model, "CPU", LATENCY).create_infer_request()
    rng = np.random.default_rng(0)
    feed = {
        n: rng.standard_normal((batch, hidden)).astype(np.float32) * 0.1
        for n in ("x", "h_in", "c_in")
    }

    def step() -> None:
        request.infer(feed)

    return step


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    """`median (min to max)` of some per-round values."""
    ordered = sorted(values)
    median = ordered[len(ordered) // 2]
    return f"{fmt.format(median)} ({fmt.format(ordered[0])} to {fmt.format(ordered[-1])})"


def bench_summator(repo: Path, steps: int, rounds: int) -> tuple[list[Row], float]:
    """Single-step latency with the summator, unbatched and batched; start-up time."""
    x = np.ones((1, 1), np.float32)
    local_step = in_process_steps(build_summator(), x, 1)
    rounds_seen: dict[str, list[float]] = {
        "served": [],
        "batched": [],
        "echo": [],
        "local": [],
        "stream": [],
        "echo_stream": [],
    }
    ratios: dict[str, list[float]] = {"served": [], "batched": [], "stream": [], "floor": []}
    echo_kinds: dict[str, list[float]] = {"sync": [], "aio": []}
    with ExitStack() as stack:
        server, stub, startup = stack.enter_context(
            served(repo, {"summator": build_summator()}, 64)
        )
        echoes = [stack.enter_context(echo_server(aio)) for aio in (False, True)]
        for name in ("summator", "summator_b"):
            stub.Predict(predict_request(name, {"x": x}, 1, Control.SEQUENCE_START))
        plain = predict_request("summator", {"x": x}, 1)
        batched = predict_request("summator_b", {"x": x}, 1)
        stream_channel = stack.enter_context(grpc.insecure_channel(server.grpc_address))
        echo_channel = stack.enter_context(grpc.insecure_channel(echoes[0].address))
        to_server, to_echo = StreamCaller(stream_channel), StreamCaller(echo_channel)
        stack.callback(to_server.close)
        stack.callback(to_echo.close)
        to_server(kserve_step("summator", {"x": x}, 2, start=True))
        streamed = kserve_step("summator", {"x": x}, 2)
        calls = {
            "served": lambda: stub.Predict(plain),
            "batched": lambda: stub.Predict(batched),
            "stream": lambda: to_server(streamed),
            "sync": lambda: echoes[0].stub.Predict(plain),
            "aio": lambda: echoes[1].stub.Predict(plain),
            "echo_stream": lambda: to_echo(streamed),
            "in-process": local_step,
        }
        # Blocks of calls in turn, so that the load of other processes (and its drift within a
        # round) hits all of them alike, while each stays warm within its block.
        for _ in range(rounds):
            times = {t.label: t.median for t in time_alternating(calls, steps, 200, block=BLOCK)}
            served_t, batched_t, local_t = times["served"], times["batched"], times["in-process"]
            echo_kinds["sync"].append(times["sync"])
            echo_kinds["aio"].append(times["aio"])
            echo_t = min(times["sync"], times["aio"])
            stream_t, echo_stream_t = times["stream"], times["echo_stream"]
            values = (served_t, batched_t, echo_t, local_t, stream_t, echo_stream_t)
            for key, value in zip(rounds_seen, values, strict=True):
                rounds_seen[key].append(value)
            ratios["served"].append(served_t / (echo_t + local_t))
            ratios["batched"].append(batched_t / (echo_t + local_t))
            ratios["stream"].append(stream_t / echo_t)
            ratios["floor"].append(echo_stream_t / echo_t)
        rss, peak = rss_mb(server.pid), peak_rss_mb(server.pid)
    mid = {key: float(np.median(v)) for key, v in rounds_seen.items()}
    basis = f"echo {mid['echo']:.0f} µs + in-process {mid['local']:.0f} µs"
    rows = [
        (
            f"Summator step, one client, batching off (median of {rounds} rounds; spread)",
            f"{mid['served']:.0f} µs = {spread(ratios['served'])} x ({basis})",
            "≤ 1.3 x",
        ),
        (
            "Summator step, one client, batching on",
            f"{mid['batched']:.0f} µs = {spread(ratios['batched'])} x ({basis})",
            "≤ 1.3 x",
        ),
        (
            "Summator step, one client, over a KServe stream (ours), batching off: served / the "
            "unary echo",
            f"{mid['stream']:.0f} µs = {spread(ratios['stream'])} x "
            f"(unary echo {mid['echo']:.0f} µs)",
            "≤ 0.75 x",
        ),
        (
            "Echo over a stream / unary echo, one client (the transport's own gain)",
            f"{mid['echo_stream']:.0f} µs = {spread(ratios['floor'])} x",
            "(info)",
        ),
        (
            "Server RSS after the summator benchmark, unbatched and batched versions (peak)",
            f"{rss:.0f} MB ({peak:.0f} MB)",
            "≤ 300 MB",
        ),
        (
            "Echo round trip, one client: thread pool / grpc.aio",
            f"{spread(echo_kinds['sync'], '{:.0f}')} µs / {spread(echo_kinds['aio'], '{:.0f}')} µs",
            "(info)",
        ),
    ]
    # The same repository and in-process step, with the server stopped: the cold-path profile.
    return rows + bench_cold_path(repo, steps, local_step), startup


def bench_lstm(repo: Path, seconds: float, clients: int, rounds: int) -> list[Row]:
    """64 concurrent LSTM sequences, unbatched and batched, against the three baselines."""
    hidden = 1024
    model = build_stateful_lstm_cell(random_lstm_weights(hidden, hidden))
    x = np.random.default_rng(0).standard_normal((1, hidden)).astype(np.float32) * 0.1
    local_round = in_process_steps(model, x, clients)
    ceiling_step = batched_ceiling(hidden, clients)
    kinds = (
        "off",
        "on",
        "stream",
        "echo",
        "echo_sync",
        "echo_aio",
        "echo_stream",
        "local",
        "ceiling",
    )
    seen: dict[str, list[float]] = {k: [] for k in kinds}
    # Server CPU time per step (µs): where the 2 cores go, the echo server's being the transport's.
    cpu: dict[str, list[float]] = {
        "echo_sync": [],
        "echo_aio": [],
        "echo_stream": [],
        "off": [],
        "on": [],
        "stream": [],
    }
    lat: dict[str, list[np.ndarray]] = {"off": [], "on": [], "stream": []}
    with ExitStack() as stack:
        server, stub, _ = stack.enter_context(served(repo, {"lstm": model}, clients))
        echoes = [stack.enter_context(echo_server(aio)) for aio in (False, True)]
        for round_index in range(rounds):
            first_id = 1000 * (round_index + 1)

            def served_work(index: int, name: str, first: int) -> Callable[[], None]:
                start = predict_request(name, {"x": x}, first + index, Control.SEQUENCE_START)
                stub.Predict(start)
                request = predict_request(name, {"x": x}, first + index)
                return lambda: stub.Predict(request)

            def echo_work(echo: Echo) -> Callable[[int], Callable[[], None]]:
                request = predict_request("lstm", {"x": x}, 1)
                return lambda _: lambda: echo.stub.Predict(request)

            def stream_work(
                address: str, name: str, first: int, callers: list[StreamCaller]
            ) -> Callable[[int], Callable[[], None]]:
                """One stream per client thread, START sent on it; closed after the window."""

                def open_stream(index: int) -> Callable[[], None]:
                    caller = StreamCaller(stack.enter_context(grpc.insecure_channel(address)))
                    callers.append(caller)
                    caller(kserve_step(name, {"x": x}, first + index, start=True))
                    request = kserve_step(name, {"x": x}, first + index)

                    def step() -> None:
                        caller(request)

                    return step

                return open_stream

            def measured(key: str, pid: int, work: Callable[[int], Callable[[], None]]) -> float:
                before = cpu_seconds(pid)
                rate, latencies = throughput(clients, seconds, work)
                cpu[key].append(1e6 * (cpu_seconds(pid) - before) / (rate * seconds))
                if key in lat:
                    lat[key].append(latencies)
                return rate

            # Interleaved rounds, so that load from other processes hits all of them alike.
            seen["local"].append(clients * throughput(1, seconds, lambda _: local_round)[0])
            seen["ceiling"].append(clients * throughput(1, seconds, lambda _: ceiling_step)[0])
            both = [
                measured(key, e.pid, echo_work(e))
                for key, e in zip(("echo_sync", "echo_aio"), echoes, strict=True)
            ]
            seen["echo_sync"].append(both[0])
            seen["echo_aio"].append(both[1])
            seen["echo"].append(max(both))
            for key, name, first in (("off", "lstm", first_id), ("on", "lstm_b", first_id + 500)):
                work = functools.partial(served_work, name=name, first=first)
                seen[key].append(measured(key, server.pid, work))
            # Over streams, one per client thread, batching on; and the echo's own stream.
            for key, address, pid, first in (
                ("echo_stream", echoes[0].address, echoes[0].pid, 1),
                ("stream", server.grpc_address, server.pid, first_id + 250),
            ):
                callers: list[StreamCaller] = []
                seen[key].append(measured(key, pid, stream_work(address, "lstm_b", first, callers)))
                for caller in callers:
                    caller.close()
        rss, peak = rss_mb(server.pid), peak_rss_mb(server.pid)
    rows: list[Row] = []
    for key, label, targets in (
        ("off", "batching off", ("(info)", "(info)")),
        ("on", "batching on", ("≥ 0.6 x", "≥ 1.0 x")),
        ("stream", "over KServe streams (ours), batching on", ("≥ 0.8 x", "(info)")),
    ):
        to_echo = [s / e for s, e in zip(seen[key], seen["echo"], strict=True)]
        to_local = [s / loc for s, loc in zip(seen[key], seen["local"], strict=True)]
        rows.append(
            (
                f"LSTM H=1024, {clients} sequences, {label}: steps/s; served / echo@{clients}",
                f"{spread(seen[key], '{:.0f}')}; {spread(to_echo)} x",
                targets[0],
            )
        )
        rows.append((f"… {label}: served / in-process", f"{spread(to_local)} x", targets[1]))
        p50s = [float(np.percentile(v, 50)) for v in lat[key]]
        p99s = [float(np.percentile(v, 99)) for v in lat[key]]
        rows.append(
            (
                f"… {label}: step latency p50 / p99 at {clients}",
                f"{spread(p50s, '{:.1f}')} ms / {spread(p99s, '{:.1f}')} ms; "
                f"p99/p50 {spread([b / a for a, b in zip(p50s, p99s, strict=True)])}",
                "(info)" if key == "off" else "p99 ≤ 3 x p50",
            )
        )
    rows.append(
        (
            f"Baselines at {clients}: echo (faster of thread pool and grpc.aio) / in-process "
            f"({clients} infer requests) / batched stateless ceiling, steps/s",
            f"{spread(seen['echo'], '{:.0f}')} / {spread(seen['local'], '{:.0f}')} / "
            f"{spread(seen['ceiling'], '{:.0f}')}",
            "(info)",
        )
    )
    rows.append(
        (
            f"Server CPU time per step at {clients} clients: echo thread pool / echo grpc.aio / "
            "echo stream / served, batching off / on / on over streams, µs",
            " / ".join(
                spread(cpu[k], "{:.0f}")
                for k in ("echo_sync", "echo_aio", "echo_stream", "off", "on", "stream")
            ),
            "(info)",
        )
    )
    rows.append(
        (
            f"Echo at {clients} clients: thread pool / grpc.aio / thread pool over streams, req/s",
            f"{spread(seen['echo_sync'], '{:.0f}')} / {spread(seen['echo_aio'], '{:.0f}')} / "
            f"{spread(seen['echo_stream'], '{:.0f}')}",
            "(info)",
        )
    )
    rows.append(
        (
            "Server RSS after the LSTM benchmark: LSTM H=1024 unbatched and batched (peak)",
            f"{rss:.0f} MB ({peak:.0f} MB)",
            "(info)",
        )
    )
    return rows


def machine_load() -> str:
    """The 1-minute load average, for the record (the machine is shared)."""
    return f"{os.getloadavg()[0]:.1f}"


def main() -> int:
    """Run every benchmark and write the markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=64)
    args = parser.parse_args()
    load_before = machine_load()
    with tempfile.TemporaryDirectory() as tmp:
        rows, startup = bench_summator(Path(tmp) / "summator_repo", args.steps, args.rounds)
        rows.insert(
            0,
            (
                "Server start to AVAILABLE (summator, unbatched and batched)",
                f"{startup:.2f} s",
                "≤ 2 s",
            ),
        )
        rows += bench_lstm(Path(tmp) / "lstm_repo", args.seconds, args.clients, args.rounds)
    lines = [
        "# Serving benchmarks (one run, same machine, interleaved rounds)",
        "",
        f"{os.cpu_count()} cores, load average {load_before} before and {machine_load()} after "
        "(the machine is shared); `make bench` regenerates this file. Ratios matter, not absolute "
        "numbers; each cell is the median of the rounds, with their spread in brackets.",
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
