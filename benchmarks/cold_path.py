"""The server's Predict code run in this process, hot and after idling: what a served step pays.

Run by `make bench` (serving_bench.py) after the summator benchmark, on the repository and the
in-process step that benchmark used; its rows go to results.md. A served request finds
the server idle for one round trip, while the in-process baseline steps in a tight loop; this
measures the same `predict()` the gRPC handler calls, and the in-process summator step, in a
tight loop and after the process has slept 0.6 ms and 2 ms between calls.
"""

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import openvino as ov

from helpers.model_server.config.model_config import ModelConfig
from helpers.model_server.core.manager import ModelManager
from helpers.model_server.grpc_api.service import predict
from helpers.serving.client import predict_request
from helpers.serving.protocol import Control

IDLE_SECONDS = (0.0, 0.0006, 0.002)


def after_idle(call: Callable[[], object], idle: float, steps: int) -> float:
    """Median duration (µs) of `call` when the process sleeps `idle` seconds before each one."""
    durations = np.empty(steps)
    for _ in range(steps // 10):
        call()
    for i in range(steps):
        if idle:
            time.sleep(idle)
        start = time.perf_counter_ns()
        call()
        durations[i] = time.perf_counter_ns() - start
    return float(np.median(durations)) / 1e3


def bench_cold_path(
    repo: Path, steps: int, inference: Callable[[], object]
) -> list[tuple[str, str, str]]:
    """Rows: predict() for `repo`'s summator, and `inference` (its in-process step), hot and after
    each idle time."""
    manager = ModelManager(ov.Core())
    config = ModelConfig(
        name="summator", base_path=repo / "summator", stateful=True, idle_sequence_cleanup=False
    )
    manager.apply([config])
    x = np.ones((1, 1), np.float32)
    predict(manager, predict_request("summator", {"x": x}, 1, Control.SEQUENCE_START))
    request = predict_request("summator", {"x": x}, 1)
    served = [after_idle(lambda: predict(manager, request), idle, steps) for idle in IDLE_SECONDS]
    alone = [after_idle(inference, idle, steps) for idle in IDLE_SECONDS]
    idles = " / ".join("none" if idle == 0 else f"{idle * 1e3:g} ms" for idle in IDLE_SECONDS)
    return [
        (
            f"The server's predict() for a summator step, in-process, idle before each call "
            f"{idles}",
            " / ".join(f"{value:.0f} µs" for value in served),
            "(info)",
        ),
        (
            f"… the in-process summator step (the baseline's call), idle {idles}",
            " / ".join(f"{value:.0f} µs" for value in alone),
            "(info)",
        ),
    ]
