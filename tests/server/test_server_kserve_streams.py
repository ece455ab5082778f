"""ModelStreamInfer over models with the KServe sequence extension (ours, as Triton serves it),
with tritonclient's own streaming API (sync and asyncio) as the client.

Expected sums come from NumPy; error messages are OVMS's (the same as over ModelInfer).
"""

import asyncio
import queue
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton
import tritonclient.grpc.aio as triton_aio
from tritonclient.utils import InferenceServerException

from helpers.model_server.grpc_api.streams import SHUTTING_DOWN, OpenStreams, stream_infer
from helpers.model_server.protocol.kserve import grpc_predict_v2_pb2 as pb
from helpers.models.summator import build_summator
from helpers.serving import launcher
from tests.server.support.models import build_dummy, build_slow_summator
from tests.server.support.servers import serve_repository

CLEANER_SECONDS = 1
CONFIG: list[dict[str, object]] = [
    {"name": "summator", "stateful": True, "idle_sequence_cleanup": False},
    {
        "name": "batched",
        "base_path": "summator",
        "stateful": True,
        "idle_sequence_cleanup": False,
        "sequence_batching": {"max_batch_size": 16, "max_queue_delay_microseconds": 500},
    },
    {"name": "idle", "base_path": "summator", "stateful": True},
    {"name": "dummy"},
]
SEQUENCE_MISSING = "Sequence with provided ID does not exist"
SEQUENCE_EXISTS = "Sequence with provided ID already exists"
GRAPH_MISSING = "Mediapipe graph definition with requested name is not found"
BAD_SHAPE = "Invalid input shape - Expected: (1,1); Actual: (1,2); input name: input name: x"
Reply = tuple[triton.InferResult | None, InferenceServerException | None]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[launcher.ServerHandle]:
    """The sequence extension on; `idle` is scanned every second."""
    models = {"summator": build_summator(), "dummy": build_dummy()}
    with serve_repository(
        tmp_path_factory.mktemp("kserve_streams"),
        models,
        CONFIG,
        file_poll_seconds=0,
        cleaner_seconds=CLEANER_SECONDS,
        debug_log=True,
        extra_args=["--kserve_sequence_extension"],
    ) as handle:
        yield handle


def x_of(value: float) -> list[triton.InferInput]:
    """The summator's input holding one value."""
    tensor = triton.InferInput("x", [1, 1], "FP32")
    tensor.set_data_from_numpy(np.array([[value]], np.float32))
    return [tensor]


class Stream:
    """A tritonclient stream whose replies are collected in order."""

    def __init__(self, address: str) -> None:
        self.client = triton.InferenceServerClient(address)
        self.replies: queue.SimpleQueue[Reply] = queue.SimpleQueue()
        self.client.start_stream(lambda result, error: self.replies.put((result, error)))

    def send(self, model: str, value: float, sequence_id: int | str, **flags: bool) -> None:
        """One step of a sequence, not waiting for its reply."""
        self.client.async_stream_infer(
            model,
            x_of(value),
            sequence_id=sequence_id,
            request_id=f"{sequence_id}:{value}",
            **flags,
        )

    def reply(self) -> Reply:
        """The next reply, in the order the requests were sent."""
        return self.replies.get(timeout=20)

    def close(self, cancel: bool = False) -> None:
        """End the stream (cancelling it, or letting the server finish) and the client."""
        self.client.stop_stream(cancel_requests=cancel)
        self.client.close()


def unary_step(
    client: triton.InferenceServerClient, model: str, value: float, sid, **flags
) -> float:
    """One step over ModelInfer; the running sum."""
    result = client.infer(model, x_of(value), sequence_id=sid, **flags)
    return float(result.as_numpy("y").item())


@pytest.mark.parametrize("model", ["summator", "batched"])
def test_100_sequences_over_streams_and_unary_calls_give_exact_sums(server, model):
    """10 streams carry 10 sequences each, their steps interleaved; every third step of a
    sequence moves to a unary call and back. Every reply equals NumPy's running sum."""
    streams, per_stream, steps = 10, 10, 9
    rng = np.random.default_rng(7)
    values = rng.integers(-50, 51, (streams, per_stream, steps)).astype(np.float32)
    base = 10_000 if model == "summator" else 20_000

    def run(index: int) -> np.ndarray:
        got = np.zeros((per_stream, steps), np.float32)
        stream = Stream(server.grpc_address)
        unary = triton.InferenceServerClient(server.grpc_address)
        try:
            for step in range(steps):
                flags = {"sequence_start": step == 0, "sequence_end": step == steps - 1}
                ids = [base + index * per_stream + j for j in range(per_stream)]
                if step % 3 == 1:
                    for j, sid in enumerate(ids):
                        got[j, step] = unary_step(
                            unary, model, values[index, j, step], sid, **flags
                        )
                    continue
                for j, sid in enumerate(ids):
                    stream.send(model, float(values[index, j, step]), sid, **flags)
                for j, sid in enumerate(ids):
                    result, error = stream.reply()
                    assert error is None, error
                    response = result.get_response()
                    assert response.id == f"{sid}:{float(values[index, j, step])}"
                    assert response.parameters["sequence_id"].int64_param == sid
                    got[j, step] = result.as_numpy("y").item()
        finally:
            stream.close()
            unary.close()
        return got

    with ThreadPoolExecutor(streams) as pool:
        results = list(pool.map(run, range(streams)))
    for got, want in zip(results, values, strict=True):
        np.testing.assert_array_equal(got, np.cumsum(want, axis=1))
    if model == "batched":
        assert "Running a batch of" in server.log_text()


def test_a_failed_request_reports_its_error_and_the_stream_goes_on(server):
    stream = Stream(server.grpc_address)
    try:
        stream.send("summator", 1.0, 501, sequence_start=True)
        stream.send("summator", 1.0, 501, sequence_start=True)  # already live
        stream.send("summator", 2.0, 502)  # never started
        stream.send("nothing", 1.0, 501)  # no such model
        bad = triton.InferInput("x", [1, 2], "FP32")
        bad.set_data_from_numpy(np.zeros((1, 2), np.float32))
        stream.client.async_stream_infer("summator", [bad], sequence_id=501)
        stream.send("summator", 4.0, 501, sequence_end=True)
        replies = [stream.reply() for _ in range(6)]
    finally:
        stream.close()
    messages = [None if error is None else error.message() for _, error in replies]
    assert messages == [None, SEQUENCE_EXISTS, SEQUENCE_MISSING, GRAPH_MISSING, BAD_SHAPE, None]
    assert replies[0][0].as_numpy("y").item() == 1.0
    assert replies[5][0].as_numpy("y").item() == 5.0


def test_an_error_reply_echoes_the_request_id(server):
    """tritonclient hides the id of a failed request; read the raw stream."""
    requests = [
        pb.ModelInferRequest(model_name="nothing", id="first"),
        pb.ModelInferRequest(model_name="dummy", id="second"),
    ]
    with grpc.insecure_channel(server.grpc_address) as channel:
        call = channel.stream_stream(
            "/inference.GRPCInferenceService/ModelStreamInfer",
            request_serializer=pb.ModelInferRequest.SerializeToString,
            response_deserializer=pb.ModelStreamInferResponse.FromString,
        )
        replies = list(call(iter(requests), timeout=20))
    assert [(r.infer_response.id, r.error_message) for r in replies] == [
        ("first", GRAPH_MISSING),
        ("second", "Invalid number of inputs - Expected: 1; Actual: 0"),
    ]


def test_a_stateless_model_answers_on_a_stream(server):
    stream = Stream(server.grpc_address)
    data = np.arange(10, dtype=np.float32)[None]
    try:
        for offset in range(3):
            tensor = triton.InferInput("b", [1, 10], "FP32")
            tensor.set_data_from_numpy(data + offset)
            stream.client.async_stream_infer("dummy", [tensor], request_id=str(offset))
        replies = [stream.reply() for _ in range(3)]
    finally:
        stream.close()
    for offset, (result, error) in enumerate(replies):
        assert error is None
        assert result.get_response().id == str(offset)
        np.testing.assert_array_equal(result.as_numpy("a"), data + offset + 1)


def test_a_cancelled_stream_leaves_its_sequence_to_idle_cleanup(server):
    stream = Stream(server.grpc_address)
    stream.send("idle", 3.0, 601, sequence_start=True)
    stream.send("summator", 3.0, 602, sequence_start=True)
    assert [stream.reply()[1] for _ in range(2)] == [None, None]
    stream.close(cancel=True)
    with triton.InferenceServerClient(server.grpc_address) as unary:
        # The sequence outlives its stream: it goes on over a unary call, then ends.
        assert unary_step(unary, "summator", 4.0, 602, sequence_end=True) == 7.0
        # Two scans without a request remove it, as for a client that vanished.
        time.sleep(4 * CLEANER_SECONDS)
        with pytest.raises(InferenceServerException) as missing:
            unary_step(unary, "idle", 1.0, 601)
        assert missing.value.message() == SEQUENCE_MISSING


def test_the_asyncio_client_streams_a_sequence(server):
    values = [2.0, -1.0, 5.0, 0.5]

    async def requests():
        for index, value in enumerate(values):
            yield {
                "model_name": "batched",
                "inputs": x_of(value),
                "sequence_id": "aio-sequence",
                "sequence_start": index == 0,
                "sequence_end": index == len(values) - 1,
                "request_id": str(index),
            }

    async def run() -> list[tuple[str, float]]:
        async with triton_aio.InferenceServerClient(server.grpc_address) as client:
            got = []
            async for result, error in client.stream_infer(requests()):
                assert error is None, error
                got.append((result.get_response().id, float(result.as_numpy("y").item())))
                if len(got) == len(values):
                    break
            return got

    got = asyncio.run(run())
    assert got == [(str(i), float(s)) for i, s in enumerate(np.cumsum(values))]


def slow_inputs(value: float, rounds: int) -> list[triton.InferInput]:
    """The slow summator's inputs: add `value` after `rounds` rounds of matrix work."""
    n = triton.InferInput("n", [1], "INT64")
    n.set_data_from_numpy(np.array([rounds], np.int64))
    return [*x_of(value), n]


def test_sigterm_answers_the_running_stream_request_and_ends_open_streams(tmp_path: Path):
    models = {"slow": build_slow_summator(size=256)}
    config = [{"name": "slow", "stateful": True}]
    with serve_repository(
        tmp_path, models, config, file_poll_seconds=0, extra_args=["--kserve_sequence_extension"]
    ) as handle:
        with triton.InferenceServerClient(handle.grpc_address) as unary:
            began = time.monotonic()
            unary.infer("slow", slow_inputs(0.0, 200), sequence_id=9, sequence_start=True)
            rounds = int(200 * 2.0 / max(time.monotonic() - began, 1e-3))  # about 2 s of work
        idle, busy = Stream(handle.grpc_address), Stream(handle.grpc_address)
        idle.client.async_stream_infer(
            "slow", slow_inputs(1.0, 0), sequence_id=1, sequence_start=True
        )
        assert idle.reply()[1] is None
        busy.client.async_stream_infer(
            "slow", slow_inputs(2.0, 0), sequence_id=2, sequence_start=True
        )
        assert busy.reply()[1] is None
        busy.client.async_stream_infer("slow", slow_inputs(3.0, rounds), sequence_id=2)
        time.sleep(0.3)  # the step is running (it takes far longer than this)
        assert handle.process is not None
        handle.process.send_signal(signal.SIGTERM)
        _, cancelled = idle.reply()
        assert cancelled is not None and "StatusCode.CANCELLED" in cancelled.status()
        result, error = busy.reply()
        assert error is None and result.as_numpy("y").item() == 5.0
        _, ended = busy.reply()
        assert ended is not None and "StatusCode.UNAVAILABLE" in ended.status()
        assert handle.process.wait(20) == 0
        for stream in (idle, busy):
            stream.client.close()


class FakeContext:
    """What `stream_infer` uses of a grpc.ServicerContext."""

    def __init__(self) -> None:
        self.cancelled = False
        self.code: grpc.StatusCode | None = None
        self.details = ""

    def cancel(self) -> None:
        self.cancelled = True

    def set_code(self, code: grpc.StatusCode) -> None:
        self.code = code

    def set_details(self, details: str) -> None:
        self.details = details


def test_a_drain_cancels_waiting_streams_and_lets_running_ones_finish():
    streams = OpenStreams()
    idle, busy = FakeContext(), FakeContext()
    assert streams.waiting(idle) and streams.waiting(busy)
    assert streams.running(busy)
    streams.drain()
    assert idle.cancelled and not busy.cancelled
    assert not streams.running(idle)  # a request read as the drain came is not run
    assert not streams.waiting(busy)  # the running stream ends after its request


def test_a_stream_answers_its_running_request_then_ends_unavailable_after_a_drain():
    streams = OpenStreams()
    context = FakeContext()
    requests = [pb.ModelInferRequest(model_name="m", id=str(i)) for i in range(3)]

    def infer(request: pb.ModelInferRequest) -> pb.ModelInferResponse:
        streams.drain()  # SIGTERM arrives while the first request runs
        return pb.ModelInferResponse(model_name=request.model_name, id=request.id)

    replies = list(stream_infer(infer, iter(requests), context, streams))
    assert [r.infer_response.id for r in replies] == ["0"]
    assert (context.code, context.details) == (grpc.StatusCode.UNAVAILABLE, SHUTTING_DOWN)
    assert not context.cancelled
