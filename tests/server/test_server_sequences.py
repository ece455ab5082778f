"""Conformance: concurrency, idle cleanup, LowLatency2 on a TensorIterator model."""

import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np

from tests.server.support.models import MAIN_CLEANER_SECONDS, build_tensor_iterator_lstm
from tests.server.support.requests import (
    END,
    START,
    make_ndarray,
    output,
    predict,
    predict_error,
    request,
    summator_x,
)


def test_30_threads_by_25_steps_give_exact_sums(channel):
    rng = np.random.default_rng(30)
    values = rng.integers(-1000, 1000, size=(30, 25)).astype(np.float32)

    def run(thread: int) -> list[float]:
        sums = []
        for step, value in enumerate(values[thread]):
            control = START if step == 0 else END if step == 24 else None
            response = predict(
                channel, request("summator", summator_x(value), 50_000 + thread, control)
            )
            sums.append(float(output(response)[0, 0]))
        return sums

    with ThreadPoolExecutor(30) as pool:
        results = list(pool.map(run, range(30)))
    assert results == np.cumsum(values, axis=1).tolist()


def test_concurrent_requests_on_one_sequence_lose_no_update(channel):
    predict(channel, request("summator", summator_x(0.0), 60_000, START))

    def add_ones(_: int) -> None:
        for _ in range(25):
            predict(channel, request("summator", summator_x(1.0), 60_000))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(add_ones, range(8)))
    assert (
        output(predict(channel, request("summator", summator_x(0.0), 60_000, END)))[0, 0] == 200.0
    )


def test_idle_sequences_are_removed_by_two_scans_and_active_ones_kept(channel):
    predict(channel, request("idle", summator_x(1.0), 1, START))
    predict(channel, request("idle", summator_x(1.0), 2, START))
    predict(channel, request("summator", summator_x(1.0), 70_000, START))
    deadline = time.monotonic() + 3 * MAIN_CLEANER_SECONDS + 0.5
    kept = 1.0
    while time.monotonic() < deadline:
        kept = float(output(predict(channel, request("idle", summator_x(1.0), 2)))[0, 0])
        time.sleep(MAIN_CLEANER_SECONDS / 4)
    code, details = predict_error(channel, request("idle", summator_x(1.0), 1))
    assert (code, details) == (
        grpc.StatusCode.NOT_FOUND,
        "Sequence with provided ID does not exist",
    )
    assert output(predict(channel, request("idle", summator_x(1.0), 2, END)))[0, 0] == kept + 1.0
    # idle_sequence_cleanup=false: never removed by the cleaner.
    assert output(predict(channel, request("summator", summator_x(1.0), 70_000, END)))[0, 0] == 2.0


def test_low_latency_transformation_streams_a_tensor_iterator(channel, core):
    steps = 6
    xs = np.random.default_rng(6).standard_normal((1, steps, 3)).astype(np.float32)
    full = core.compile_model(build_tensor_iterator_lstm(steps), "CPU")({"X": xs})[0]
    streamed = []
    for t in range(steps):
        control = START if t == 0 else END if t == steps - 1 else None
        req = request("ti_ll", {"X": xs[:, t : t + 1]}, 80_000, control)
        streamed.append(make_ndarray(predict(channel, req).outputs["Y"]))
    np.testing.assert_allclose(np.concatenate(streamed, axis=1), full, rtol=1e-5, atol=1e-6)


def test_without_low_latency_each_step_starts_from_zero(channel, core):
    xs = np.random.default_rng(7).standard_normal((1, 2, 3)).astype(np.float32)
    one_step = core.compile_model(build_tensor_iterator_lstm(1), "CPU")
    first = predict(channel, request("ti_plain", {"X": xs[:, :1]}, 80_001, START))
    second = predict(channel, request("ti_plain", {"X": xs[:, 1:]}, 80_001, END))
    np.testing.assert_allclose(make_ndarray(first.outputs["Y"]), one_step({"X": xs[:, :1]})[0])
    np.testing.assert_allclose(make_ndarray(second.outputs["Y"]), one_step({"X": xs[:, 1:]})[0])
