"""`make bench`, routing part: what nginx in front of the replicas costs, as ratios against direct.

Three summator replicas behind nginx. Measured side by side, in interleaved rounds so that load
from other processes hits both alike:
1. one sequence's step latency through nginx vs straight to the replica that holds it;
2. 16 sequences from 16 threads, steps per second through nginx vs each thread straight to its
   sequence's replica.
Writes benchmarks/routing_results.md.
"""

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from helpers.model_server.process.light_tensorflow import install_light_tensorflow_namespace

install_light_tensorflow_namespace()

import grpc  # noqa: E402
import numpy as np  # noqa: E402
from tensorflow_serving.apis.prediction_service_pb2_grpc import (  # noqa: E402
    PredictionServiceStub,
)

from benchmarks.serving_bench import throughput  # noqa: E402
from helpers.models.summator import build_summator  # noqa: E402
from helpers.paths import REPO_ROOT  # noqa: E402
from helpers.serving.client import predict_request, sequence_metadata  # noqa: E402
from helpers.serving.protocol import EXACT_F32, Control  # noqa: E402
from helpers.serving.replicas import ReplicaSet, start_replicas  # noqa: E402
from helpers.serving.repository import write_model_repository  # noqa: E402
from helpers.timing.step_times import time_calls  # noqa: E402

RESULTS = REPO_ROOT / "benchmarks" / "routing_results.md"
MODEL = "summator"


def replica_of(group: ReplicaSet, sequence_id: int) -> int:
    """The replica that answered this sequence's START (nginx logs just after answering)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for route in group.routes():
            if route.sequence_id == str(sequence_id) and route.replica is not None:
                return route.replica
        time.sleep(0.01)
    raise TimeoutError(f"no access log line for sequence {sequence_id}")


def step_call(group: ReplicaSet, sequence_id: int, proxied: bool) -> Callable[[], None]:
    """A started sequence's middle step, through nginx or straight to the replica holding it."""
    x = {"x": np.ones((1, 1), np.float32)}
    metadata = sequence_metadata(sequence_id)
    front = PredictionServiceStub(grpc.insecure_channel(group.grpc_address))
    front.Predict(predict_request(MODEL, x, sequence_id, Control.SEQUENCE_START), metadata=metadata)
    address = group.replicas[replica_of(group, sequence_id)].grpc_address
    stub = front if proxied else PredictionServiceStub(grpc.insecure_channel(address))
    request = predict_request(MODEL, x, sequence_id)
    return lambda: stub.Predict(request, metadata=metadata)


def thread_step(group: ReplicaSet, base: int, proxied: bool, index: int) -> Callable[[], None]:
    """Thread `index`'s step on its own sequence (id `base + index`)."""
    return step_call(group, base + index, proxied)


def measure(group: ReplicaSet, steps: int, seconds: float, rounds: int) -> list[tuple[str, str]]:
    """Rows of (measurement, result) for results.md."""
    latency: list[tuple[float, float]] = []
    rates: list[tuple[float, float]] = []
    for round_index in range(rounds):
        base = 1_000_000 * (round_index + 1)
        direct = time_calls("direct", step_call(group, base + 1, False), steps, 100)
        proxied = time_calls("nginx", step_call(group, base + 2, True), steps, 100)
        latency.append((proxied.median, direct.median))
        proxied_work = partial(thread_step, group, base + 100, True)
        direct_work = partial(thread_step, group, base + 200, False)
        rates.append(
            (throughput(16, seconds, proxied_work)[0], throughput(16, seconds, direct_work)[0])
        )
    step_ratios = sorted(p / d for p, d in latency)
    rate_ratios = sorted(p / d for p, d in rates)
    proxied_us, direct_us = sorted(latency, key=lambda m: m[0] / m[1])[rounds // 2]
    proxied_rate, direct_rate = sorted(rates, key=lambda m: m[0] / m[1])[rounds // 2]
    return [
        (
            f"One sequence's step, median of {rounds} interleaved rounds",
            f"nginx {proxied_us:.0f} µs vs direct {direct_us:.0f} µs = "
            f"{step_ratios[rounds // 2]:.2f} x (rounds {step_ratios[0]:.2f} to "
            f"{step_ratios[-1]:.2f} x)",
        ),
        (
            f"16 sequences from 16 threads, {seconds:.0f} s per side per round",
            f"nginx {proxied_rate:.0f} vs direct {direct_rate:.0f} steps/s = "
            f"{rate_ratios[rounds // 2]:.2f} x throughput (rounds {rate_ratios[0]:.2f} to "
            f"{rate_ratios[-1]:.2f} x)",
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    """Run the routing benchmark and write RESULTS."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_model_repository(build_summator(), root, MODEL)
        flags = ["--model_name", MODEL, "--model_path", str(root / MODEL), "--stateful"]
        flags += ["--plugin_config", json.dumps(EXACT_F32)]
        with start_replicas(root, [MODEL], flags, 3) as group:
            rows = measure(group, args.steps, args.seconds, args.rounds)
    lines = [
        "# Routing through nginx (`make bench`, benchmarks/routing_bench.py)",
        "",
        "Three summator replicas behind nginx (`hash $http_x_sequence_id consistent`, gRPC via",
        "`grpc_pass`), client, nginx and replicas on the same machine.",
        "",
        "| Measurement | Result |",
        "|---|---|",
        *(f"| {name} | {result} |" for name, result in rows),
    ]
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
