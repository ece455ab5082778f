"""Sequence snapshots, measured: a restart with N live sequences, and what a SIGKILL loses.

`python -m benchmarks.snapshots` prints a markdown report (also written to build/snapshots/).
1. Restart: N summator and M LSTM-cell (I=16, H=64) sequences, SIGTERM, start again; the stop
   time (drain + snapshot), the start time against a start without a snapshot, the file size,
   and every restored sequence checked against its NumPy reference.
2. Crash: sequences stepped continuously with snapshots every S seconds, SIGKILL at a random
   moment, restart; per kill, the steps lost and how long before the kill the kept step was.
"""

import argparse
import re
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from helpers.model_server.process.light_tensorflow import install_light_tensorflow_namespace

install_light_tensorflow_namespace()  # the client needs the TFS protos, not all of TensorFlow

import grpc  # noqa: E402
import numpy as np  # noqa: E402
from tensorflow_serving.apis import prediction_service_pb2_grpc  # noqa: E402

from benchmarks.load import LOAD_LSTM_WEIGHTS, write_load_repository  # noqa: E402
from helpers.models.recurrent_reference import lstm_reference  # noqa: E402
from helpers.paths import REPO_ROOT  # noqa: E402
from helpers.serving import launcher  # noqa: E402
from helpers.serving.client import predict_request, to_ndarray  # noqa: E402
from helpers.serving.protocol import Control  # noqa: E402

OUT = REPO_ROOT / "build" / "snapshots"
START = Control.SEQUENCE_START


def start(root: Path, snapshots: Path, *flags: str) -> tuple[launcher.ServerHandle, float]:
    """Serve `sum` and `lstm` with snapshots; the handle and the seconds until AVAILABLE."""
    args = launcher.model_server_args(root, config=True)
    args += ["--file_system_poll_wait_seconds", "0", "--log_level", "DEBUG"]
    args += ["--sequence_snapshot_path", str(snapshots), *flags]
    began = time.monotonic()
    handle = launcher.start_server(root, ["sum", "lstm"], args)
    return handle, time.monotonic() - began


def step(
    stub: prediction_service_pb2_grpc.PredictionServiceStub,
    model: str,
    sequence_id: int,
    x: np.ndarray,
    control: int | None = None,
) -> np.ndarray:
    """One Predict; the output `y`."""
    response = stub.Predict(predict_request(model, {"x": x}, sequence_id, control), timeout=30)
    return to_ndarray(response.outputs["y"])


def stop_seconds(handle: launcher.ServerHandle) -> float:
    """SIGTERM and wait: the drain plus the snapshot at shutdown."""
    began = time.monotonic()
    handle.stop()
    return time.monotonic() - began


def restart_section(root: Path, sums: int, lstms: int, steps: int) -> list[str]:
    """N + M live sequences through a SIGTERM and a restart, every state checked after it."""
    snapshots = root / "snapshots"
    rng = np.random.default_rng(0)
    sum_inputs = rng.integers(-100, 101, (sums, steps)).astype(np.float32)
    lstm_inputs = rng.standard_normal((lstms, steps, 16)).astype(np.float32)
    server, _ = start(root, snapshots)

    def drive(index: int) -> None:
        with grpc.insecure_channel(server.grpc_address) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            for number in range(index, sums + lstms, 8):
                for t in range(steps):
                    control = START if t == 0 else None
                    if number < sums:
                        x = sum_inputs[number, t].reshape(1, 1)
                        step(stub, "sum", number + 1, x, control)
                    else:
                        x = lstm_inputs[number - sums, t].reshape(1, 16)
                        step(stub, "lstm", number + 1, x, control)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(drive, range(8)))
    stopped = stop_seconds(server)
    written = re.search(r"wrote (\d+) sequence\(s\) to \S+ in (\d+) ms", server.log_text())
    size = (snapshots / "sequences.snapshot").stat().st_size
    server, started = start(root, snapshots)
    restored = re.search(
        r"restored (\d+) of (\d+) sequence\(s\) from \S+ in (\d+) ms", server.log_text()
    )
    wrong = 0
    with grpc.insecure_channel(server.grpc_address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for number in range(sums):
            y = step(stub, "sum", number + 1, np.zeros((1, 1), np.float32))
            wrong += int(y[0, 0] != np.sum(sum_inputs[number], dtype=np.float64))
        zeros = np.zeros(64)
        for number in range(lstms):
            x = rng.standard_normal((1, 16)).astype(np.float32)
            y = step(stub, "lstm", sums + number + 1, x)
            xs = np.concatenate([lstm_inputs[number], x])
            wrong += int(
                not np.allclose(
                    y[0], lstm_reference(xs, LOAD_LSTM_WEIGHTS, zeros, zeros)[0][-1], atol=1e-4
                )
            )
    stop_seconds(server)
    server, baseline = start(root, root / "empty")
    stop_seconds(server)
    assert written and restored
    return [
        "## Restart with live sequences",
        "",
        f"{sums} summator + {lstms} LSTM-cell (I=16, H=64) sequences, {steps} steps each.",
        "",
        "| What | Figure |",
        "|---|---|",
        f"| Snapshot written at SIGTERM | {written[1]} sequences, {size / 1024:.0f} KiB, "
        f"in {written[2]} ms |",
        f"| SIGTERM to exit (drain + snapshot) | {stopped:.2f} s |",
        f"| Start to AVAILABLE, restoring | {started:.2f} s "
        f"({restored[1]} of {restored[2]} restored, in {restored[3]} ms) |",
        f"| Start to AVAILABLE, no snapshot | {baseline:.2f} s |",
        f"| Wrong states after the restart | {wrong} of {sums + lstms} |",
        "",
    ]


def crash_once(root: Path, interval: int, sequences: int, rng: np.random.Generator) -> tuple:
    """Step with x = 1 (a sum is a step count), SIGKILL, restart; (lost steps, kept ages)."""
    snapshots = root / f"crash{interval}-{rng.integers(1 << 30)}"
    flags = ("--sequence_snapshot_interval_seconds", str(interval))
    server, _ = start(root, snapshots, *flags)
    acknowledged: dict[int, list[float]] = {i: [] for i in range(1, sequences + 1)}
    stop = threading.Event()

    def drive(ids: list[int]) -> None:
        with grpc.insecure_channel(server.grpc_address) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            while not stop.is_set():
                for sequence_id in ids:
                    times = acknowledged[sequence_id]
                    try:
                        step(
                            stub,
                            "sum",
                            sequence_id,
                            np.ones((1, 1), np.float32),
                            None if times else START,
                        )
                    except grpc.RpcError:
                        return
                    times.append(time.monotonic())

    threads = [
        threading.Thread(target=drive, args=(list(range(k + 1, sequences + 1, 4)),))
        for k in range(4)
    ]
    for thread in threads:
        thread.start()
    time.sleep(2 * interval + 0.5 + rng.uniform(0, interval))
    assert server.process is not None
    server.process.kill()
    killed = time.monotonic()
    stop.set()
    for thread in threads:
        thread.join()
    server.stop()
    server, _ = start(root, snapshots, *flags)
    lost, ages = [], []
    with grpc.insecure_channel(server.grpc_address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for sequence_id, times in acknowledged.items():
            kept = int(step(stub, "sum", sequence_id, np.zeros((1, 1), np.float32))[0, 0])
            lost.append(max(0, len(times) - kept))
            ages.append(killed - times[kept - 1])
    stop_seconds(server)
    steps = sum(len(times) for times in acknowledged.values())
    return lost, ages, steps


def crash_section(root: Path, intervals: list[int], kills: int, sequences: int) -> list[str]:
    """A table: per interval, the steps lost per sequence and the age of the kept state."""
    rng = np.random.default_rng(1)
    lines = [
        "## What a SIGKILL loses",
        "",
        f"{sequences} summator sequences stepped without pause from 4 threads; SIGKILL at a random "
        "moment 2 to 3 intervals after the start; restart from the last periodic snapshot.",
        "",
        "| Interval | Kills | Steps acknowledged per kill | Steps lost per sequence (mean / max) | "
        "Age of the kept state at the kill (max) |",
        "|---|---|---|---|---|",
    ]
    for interval in intervals:
        lost, ages, steps = [], [], []
        for _ in range(kills):
            one_lost, one_ages, one_steps = crash_once(root, interval, sequences, rng)
            lost += one_lost
            ages += one_ages
            steps.append(one_steps)
        lines.append(
            f"| {interval} s | {kills} | {int(np.mean(steps))} | "
            f"{np.mean(lost):.1f} / {max(lost)} | {max(ages):.2f} s |"
        )
    return [*lines, ""]


def main() -> None:
    """Run both sections and print the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sums", type=int, default=1000)
    parser.add_argument("--lstms", type=int, default=200)
    parser.add_argument("--kills", type=int, default=3)
    options = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_load_repository(root, options.sums + options.lstms)
        report = restart_section(root, options.sums, options.lstms, steps=5)
        print("\n".join(report), flush=True)
        crash = crash_section(root, [1, 2], options.kills, sequences=40)
        print("\n".join(crash), flush=True)
    (OUT / "report.md").write_text("\n".join(["# Sequence snapshots", "", *report, *crash]))


if __name__ == "__main__":
    main()
