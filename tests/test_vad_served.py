"""Silero VAD served: several microphones as sequences, sequence batching on, equal in-process.

Two versions are served, each with batching on: the MakeStateful model (`input` [1, 576], state
[2, 1, 128] whose batch axis is 1, not 0) and the fully stateful one (`chunk` [1, 512], a
`context` Variable [1, 64] too). Every microphone's probabilities must equal its own in-process
infer request's. The response carries the output as the model names it, `output`.
"""

import threading
from collections.abc import Iterator

import grpc
import numpy as np
import openvino as ov
import pytest
from tensorflow_serving.apis import prediction_service_pb2_grpc

from helpers.audio.files import SILERO_VAD_ONNX, read_wav, split_chunks
from helpers.audio.silero_stateful import add_audio_context, make_state_variable
from helpers.serving import launcher
from helpers.serving.client import StatefulSequence, predict_request
from helpers.serving.protocol import Control
from helpers.serving.repository import write_config, write_model_repository

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
MICROPHONES = 4
CHUNKS = 60
TOLERANCE = 1e-5


def with_context(window_model: bool, chunk: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """What one microphone sends: the raw chunk, or (for the window model) 64 + 512 samples."""
    return (
        np.concatenate([previous[None, -64:], chunk[None]], axis=1) if window_model else chunk[None]
    )


@pytest.fixture(scope="module")
def models() -> dict[str, ov.Model]:
    state_only = make_state_variable(ov.Core().read_model(SILERO_VAD_ONNX))
    return {"vad_window": state_only, "vad": add_audio_context(state_only)}


@pytest.fixture(scope="module")
def microphones() -> list[np.ndarray]:
    speech = read_wav()
    rng = np.random.default_rng(3)
    return [
        split_chunks(speech + level * rng.standard_normal(len(speech)).astype(np.float32))[:CHUNKS]
        for level in (0.0, 0.005, 0.01, 0.02)
    ]


@pytest.fixture(scope="module")
def server(tmp_path_factory, models) -> Iterator[launcher.ServerHandle]:
    repository = tmp_path_factory.mktemp("vad_repo")
    config = []
    for name, model in models.items():
        write_model_repository(model, repository, name)
        config.append(
            {
                "name": name,
                "base_path": name,
                "stateful": True,
                "plugin_config": F32,
                "sequence_batching": {"max_batch_size": MICROPHONES},
            }
        )
    write_config(repository, config)
    args = launcher.model_server_args(repository, config=True)
    with launcher.start_server(repository, list(models), args) as handle:
        yield handle


def in_process(model: ov.Model, name: str, chunks: np.ndarray) -> np.ndarray:
    core = ov.Core()
    request = core.compile_model(model, "CPU", F32).create_infer_request()
    inputs = request.model_inputs[0].get_any_name()
    previous = np.zeros(512, np.float32)
    outputs = []
    for chunk in chunks:
        data = with_context(name == "vad_window", chunk, previous)
        outputs.append(float(request.infer({inputs: data})["output"][0, 0]))
        previous = chunk
    return np.array(outputs)


def stream_all(server, name: str, input_name: str, microphones) -> list[np.ndarray]:
    """Every microphone in its own thread and sequence, all started together."""
    results: list[np.ndarray | None] = [None] * len(microphones)
    barrier = threading.Barrier(len(microphones))

    def stream(index: int) -> None:
        with grpc.insecure_channel(server.grpc_address) as channel:
            sequence = StatefulSequence(channel, name, "output", sequence_id=500 + index)
            previous, outputs = np.zeros(512, np.float32), []
            barrier.wait()
            for position, chunk in enumerate(microphones[index]):
                data = {input_name: with_context(name == "vad_window", chunk, previous)}
                if position == 0:
                    outputs.append(sequence.start(data))
                elif position == len(microphones[index]) - 1:
                    outputs.append(sequence.end(data))
                else:
                    outputs.append(sequence.step(data))
                previous = chunk
            results[index] = np.array([float(o[0, 0]) for o in outputs])

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(len(microphones))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


@pytest.mark.parametrize("name,input_name", [("vad_window", "input"), ("vad", "chunk")])
def test_each_microphone_served_with_batching_equals_its_own_in_process_request(
    server, models, microphones, name, input_name
):
    served = stream_all(server, name, input_name, microphones)
    for microphone, probabilities in zip(microphones, served, strict=True):
        expected = in_process(models[name], name, microphone)
        np.testing.assert_allclose(probabilities, expected, atol=TOLERANCE)
    assert max(p.max() for p in served) > 0.5 > min(p.min() for p in served)


def test_the_served_output_has_the_models_name(server, microphones):
    with grpc.insecure_channel(server.grpc_address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        chunk = microphones[0][0][None]
        start = predict_request("vad", {"chunk": chunk}, 900, Control.SEQUENCE_START)
        response = stub.Predict(start, 10.0)
        stub.Predict(predict_request("vad", {"chunk": chunk}, 900, Control.SEQUENCE_END), 10.0)
    assert set(response.outputs) == {"output", "sequence_id"}
