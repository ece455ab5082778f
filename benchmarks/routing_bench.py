"""`make bench`, routing part: what a sticky proxy in front of the replicas costs, nginx and Envoy
side by side.

Three summator replicas with both proxies in front of them at once: nginx as `start_replicas`
starts it, and Envoy with the routes of deploy/kubernetes/routing.yaml on ports of its own. In
interleaved rounds, so that load from other processes hits every path alike:
1. one sequence's step straight to the replica that holds it, through nginx and through Envoy, the
   three calls taken in turn (p50 and p99 over every round's calls);
2. 16 sequences from 16 threads, steps per second straight to each sequence's replica, through
   nginx and through Envoy, the order of the three rotating from round to round;
3. the resident memory (RSS) of nginx (master and worker) and of Envoy after the rounds.
Writes benchmarks/routing_results.md, with the machine's load average.
"""

import argparse
import json
import os
import tempfile
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from helpers.model_server.process.light_tensorflow import install_light_tensorflow_namespace

install_light_tensorflow_namespace()

import grpc  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402
from tensorflow_serving.apis.prediction_service_pb2_grpc import (  # noqa: E402
    PredictionServiceStub,
)

from benchmarks.serving_bench import throughput  # noqa: E402
from helpers.models.summator import build_summator  # noqa: E402
from helpers.paths import REPO_ROOT  # noqa: E402
from helpers.serving.calls import rest_call  # noqa: E402
from helpers.serving.client import predict_request, sequence_metadata  # noqa: E402
from helpers.serving.envoy import EnvoyHandle, start_envoy  # noqa: E402
from helpers.serving.launcher import LOOPBACK  # noqa: E402
from helpers.serving.protocol import EXACT_F32, Control  # noqa: E402
from helpers.serving.replicas import ReplicaSet, free_ports, start_replicas  # noqa: E402
from helpers.serving.repository import write_model_repository  # noqa: E402
from helpers.timing.step_times import time_alternating  # noqa: E402

RESULTS = REPO_ROOT / "benchmarks" / "routing_results.md"
MODEL = "summator"
PATHS = ("direct", "nginx", "envoy")
THREADS = 16


@dataclass
class Fronts:
    """The replicas, the gRPC address of each proxy in front of them, and open channels."""

    group: ReplicaSet
    envoy: EnvoyHandle
    channels: list[grpc.Channel] = field(default_factory=list)

    def front(self, path: str) -> str:
        """Where a sequence taking `path` starts: its proxy (nginx for the direct path)."""
        return f"{LOOPBACK}:{self.envoy.grpc_port}" if path == "envoy" else self.group.grpc_address

    def stub(self, address: str) -> PredictionServiceStub:
        """A stub on a new channel to `address` (closed by `close`)."""
        channel = grpc.insecure_channel(address)
        self.channels.append(channel)
        return PredictionServiceStub(channel)

    def home(self, sequence_id: int) -> str:
        """The gRPC address of the replica holding the sequence, as the replicas list theirs."""
        for replica in self.group.replicas:
            _, body = rest_call(f"{replica.rest_url}/admin/models/{MODEL}/sequences")
            if str(sequence_id) in {s["sequence_id"] for s in body["sequences"]}:
                return replica.grpc_address
        raise LookupError(f"no replica holds sequence {sequence_id}")

    def close(self) -> None:
        """Close every channel opened so far."""
        for channel in self.channels:
            channel.close()
        self.channels.clear()


def step_call(fronts: Fronts, path: str, sequence_id: int) -> Callable[[], None]:
    """START a sequence through a proxy; its middle step by `path` (straight to its replica when
    "direct")."""
    x = {"x": np.ones((1, 1), np.float32)}
    metadata = sequence_metadata(sequence_id)
    front = fronts.stub(fronts.front(path))
    front.Predict(predict_request(MODEL, x, sequence_id, Control.SEQUENCE_START), metadata=metadata)
    stub = fronts.stub(fronts.home(sequence_id)) if path == "direct" else front
    request = predict_request(MODEL, x, sequence_id)
    return lambda: stub.Predict(request, metadata=metadata)


def thread_step(fronts: Fronts, path: str, base: int, index: int) -> Callable[[], None]:
    """Thread `index`'s step on its own sequence (id `base + index`)."""
    return step_call(fronts, path, base + index)


@dataclass
class Samples:
    """Everything measured for one path over all rounds."""

    step_us: list[np.ndarray] = field(default_factory=list)
    step_ratio: list[float] = field(default_factory=list)  # median step / direct, each round
    rate: list[float] = field(default_factory=list)
    rate_ratio: list[float] = field(default_factory=list)  # steps/s / direct, each round


def measure(fronts: Fronts, steps: int, seconds: float, rounds: int) -> dict[str, Samples]:
    """Per path: step latencies and 16-thread throughput, in interleaved rounds."""
    samples = {path: Samples() for path in PATHS}
    for round_index in range(rounds):
        base = 10_000_000 * (round_index + 1)
        calls: dict[str, Callable[[], object]] = {
            path: step_call(fronts, path, base + n) for n, path in enumerate(PATHS)
        }
        timed = dict(zip(PATHS, time_alternating(calls, steps, 100), strict=True))
        rates = {}
        order = PATHS[round_index % 3 :] + PATHS[: round_index % 3]
        for n, path in enumerate(order):
            work = partial(thread_step, fronts, path, base + 1000 * (n + 1))
            rates[path] = throughput(THREADS, seconds, work)[0]
        for path in PATHS:
            samples[path].step_us.append(timed[path].microseconds)
            samples[path].step_ratio.append(timed[path].median / timed["direct"].median)
            samples[path].rate.append(rates[path])
            samples[path].rate_ratio.append(rates[path] / rates["direct"])
        fronts.close()
    return samples


def envoy_workers(envoy: EnvoyHandle) -> int:
    """How many worker threads Envoy runs (`--concurrency`, by default one per CPU it sees)."""
    with urllib.request.urlopen(f"http://{envoy.admin_address}/server_info", timeout=5) as answer:
        return int(json.load(answer)["command_line_options"]["concurrency"])


def resident_mb(pid: int) -> float:
    """Resident memory of a process and its children (nginx's workers), in MB."""
    process = psutil.Process(pid)
    members = [process, *process.children(recursive=True)]
    return sum(member.memory_info().rss for member in members) / 2**20


def span(values: list[float]) -> str:
    """`a to b` of the rounds' values."""
    return f"rounds {min(values):.2f} to {max(values):.2f} x"


def column(samples: Samples, direct: Samples, memory: float | None) -> list[str]:
    """One path's cells of the results table: all rounds together, then the rounds' spread."""
    data = np.concatenate(samples.step_us)
    p50, p99 = float(np.median(data)), float(np.percentile(data, 99))
    rate = float(np.mean(samples.rate))
    if memory is None:
        return [f"{p50:.0f} µs", f"{p99:.0f} µs", "-", f"{rate:.0f}", "-"]
    direct_p50 = float(np.median(np.concatenate(direct.step_us)))
    return [
        f"{p50:.0f} µs (+{p50 - direct_p50:.0f} µs)",
        f"{p99:.0f} µs",
        f"{p50 / direct_p50:.2f} x ({span(samples.step_ratio)})",
        f"{rate:.0f} = {rate / np.mean(direct.rate):.2f} x ({span(samples.rate_ratio)})",
        f"{memory:.0f} MB",
    ]


def table(samples: dict[str, Samples], memory: dict[str, float], seconds: float) -> list[str]:
    """The results table in Markdown: one row per measurement, one column per path."""
    names = [
        "One sequence's step, p50 (extra hop)",
        "One sequence's step, p99",
        "One sequence's step (p50) vs direct",
        f"{THREADS} sequences from {THREADS} threads, steps/s (mean of {seconds:.0f} s rounds)",
        "Proxy RSS after the rounds",
    ]
    columns = [column(samples[p], samples["direct"], memory.get(p)) for p in PATHS]
    header = ["| | Direct to the replica | Through nginx | Through Envoy |", "|---|---|---|---|"]
    return header + [
        f"| {name} | {' | '.join(cells)} |"
        for name, cells in zip(names, zip(*columns, strict=True), strict=True)
    ]


def main(argv: list[str] | None = None) -> None:
    """Run the routing benchmark and write RESULTS."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        root = Path(folder)
        write_model_repository(build_summator(), root, MODEL)
        flags = ["--model_name", MODEL, "--model_path", str(root / MODEL), "--stateful"]
        flags += ["--plugin_config", json.dumps(EXACT_F32), "--sequence_introspection"]
        group = stack.enter_context(start_replicas(root, [MODEL], flags, 3, proxy="nginx"))
        pairs = [(r.grpc_port, r.rest_port) for r in group.replicas]
        envoy_grpc, envoy_rest = free_ports(2)
        envoy = start_envoy(root / "envoy", envoy_grpc, envoy_rest, pairs)
        stack.callback(envoy.stop)
        fronts = Fronts(group, envoy)
        samples = measure(fronts, args.steps, args.seconds, args.rounds)
        assert group.nginx is not None
        memory = {"nginx": resident_mb(group.nginx.process.pid)}
        memory["envoy"] = resident_mb(envoy.process.pid)
        workers = envoy_workers(envoy)
    load_after = os.getloadavg()
    before, after = (", ".join(f"{v:.2f}" for v in load) for load in (load_before, load_after))
    lines = [
        "# Routing through nginx and Envoy (`make bench`, benchmarks/routing_bench.py)",
        "",
        "Three summator replicas with both proxies in front of them at once; client, proxies and",
        "replicas on one machine.",
        "",
        "- nginx: `hash $http_x_sequence_id consistent`, gRPC via `grpc_pass`, one worker process.",
        "- Envoy: the routes of deploy/kubernetes/routing.yaml (Maglev on `x-sequence-id`),",
        f"  {workers} worker threads (its default: one per CPU).",
        f"- {os.cpu_count()} CPUs; load average (1, 5, 15 min) {before} at the start, {after} at "
        "the end (the benchmark's own processes included).",
        f"- {args.rounds} interleaved rounds: {args.steps} steps of each path per round, taken in "
        f"turn (p50 and p99 over all rounds); then {THREADS} sequences from {THREADS} threads for "
        f"{args.seconds:.0f} s through each path, the order rotating.",
        "",
        *table(samples, memory, args.seconds),
    ]
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
