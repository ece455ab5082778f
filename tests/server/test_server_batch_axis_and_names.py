"""Two defects Silero VAD exposed: a state whose batch axis is not the first one must batch, and
inputs and outputs are served under the names of the model as read, not the names the CPU
plugin merges into a compiled port. Expected values come from NumPy."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
import tritonclient.grpc as triton
from openvino import passes

from helpers.model_server.core.twin import _state_specs, find_batch_axes
from helpers.models.summator import make_variable
from helpers.paths import REPO_ROOT
from helpers.serving import launcher
from helpers.serving.protocol import EXACT_F32
from tests.server.support.requests import (
    END,
    START,
    get_model_metadata_pb2,
    predict,
    prediction_service_pb2_grpc,
    request,
    rest,
)
from tests.server.support.servers import serve_repository

HIDDEN = 8
INITIAL = (1.0, 2.0)  # the state's two planes at START: h and c
MERGED = "A::merged_by_the_plugin"  # sorts before "output": a compiled port's get_any_name()
SILERO = REPO_ROOT / "data" / "silero_vad" / "silero_vad_openvino_16k.onnx"


def build_axis_one_state(hidden: int = HIDDEN) -> ov.Model:
    """input [1, H] -> output [1, H], with a state f32[2, 1, H] batched along its axis 1.

    Per step: h += x; c = c / 2 + h; output = h + c. The output's Result is named `output`;
    the tensor before it, `MERGED`, comes from a no-op reshape that the CPU plugin removes,
    merging its name into the compiled output port (as Silero VAD's If branch does).
    """
    x = ops.parameter([1, hidden], np.float32, name="input")
    x.output(0).set_names({"input"})
    initial = np.stack([np.full((1, hidden), v, np.float32) for v in INITIAL])
    read = ops.read_value(ops.constant(initial), make_variable("state", [2, 1, hidden]))
    h, c = ops.split(read, ops.constant(np.int64(0)), 2).outputs()
    h_next = ops.add(h, ops.unsqueeze(x, ops.constant(np.int64(0))))
    c_next = ops.add(ops.multiply(c, ops.constant(np.float32(0.5))), h_next)
    assign = ops.assign(ops.concat([h_next, c_next], 0), make_variable("state", [2, 1, hidden]))
    total = ops.squeeze(ops.add(h_next, c_next), ops.constant(np.int64(0)))
    total.output(0).set_names({MERGED})
    same = ops.reshape(total, ops.constant(np.array([0, hidden], np.int64)), special_zero=True)
    result = ops.result(same)
    result.output(0).set_names({"output"})
    return ov.Model([result], [assign], [x], "axis_one")


def expected_outputs(xs: np.ndarray) -> np.ndarray:
    """NumPy's outputs for one sequence's inputs xs [steps, H], started at INITIAL."""
    h, c = np.full(xs.shape[1], INITIAL[0]), np.full(xs.shape[1], INITIAL[1])
    outputs = []
    for x in xs:
        h = h + x
        c = c / 2 + h
        outputs.append(h + c)
    return np.array(outputs, np.float32)


def test_the_batch_axis_of_each_state_is_found_by_shape_inference():
    model = build_axis_one_state()
    states, not_found = find_batch_axes(model, _state_specs(model))
    assert not_found == ""
    assert [(s.name, s.shape, s.batch_axis) for s in states] == [("state", (2, 1, HIDDEN), 1)]


def test_the_plugin_merges_a_name_into_the_compiled_port():
    """The premise of the naming test: compiled, the output answers to a name not in the model."""
    compiled = ov.Core().compile_model(build_axis_one_state(), "CPU")
    assert compiled.outputs[0].get_any_name() == MERGED
    assert build_axis_one_state().outputs[0].get_names() == {"output"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[launcher.ServerHandle]:
    """`axis_one` unbatched and `axis_one_b` batched, KServe extension and REST on."""
    common = {"base_path": "axis_one", "stateful": True, "plugin_config": EXACT_F32}
    config = [
        {"name": "axis_one", **common},
        {
            "name": "axis_one_b",
            **common,
            "sequence_batching": {"max_batch_size": 8, "max_queue_delay_microseconds": 2000},
        },
    ]
    with serve_repository(
        tmp_path_factory.mktemp("axis_one"),
        {"axis_one": build_axis_one_state()},
        config,
        file_poll_seconds=0,
        debug_log=True,
        extra_args=["--kserve_sequence_extension"],
    ) as handle:
        yield handle


def _sequence(channel: grpc.Channel, model: str, sequence_id: int, xs: np.ndarray) -> np.ndarray:
    """Run xs [steps, H] as one sequence START..END over TFS gRPC; the outputs [steps, H]."""
    outputs = []
    for index, x in enumerate(xs):
        control = START if index == 0 else END if index == len(xs) - 1 else None
        response = predict(channel, request(model, {"input": x[None]}, sequence_id, control))
        assert set(response.outputs) == {"output", "sequence_id"}
        outputs.append(np.frombuffer(response.outputs["output"].tensor_content, np.float32))
    return np.array(outputs)


def _batch_sizes(handle: launcher.ServerHandle) -> list[int]:
    """The size of every batch the server ran (its DEBUG log)."""
    return [
        int(line.split("batch of ")[1].split()[0])
        for line in handle.log_text().splitlines()
        if "Running a batch of" in line
    ]


@pytest.mark.parametrize("model", ["axis_one", "axis_one_b"])
def test_many_concurrent_sequences_are_exact(server, model):
    rng = np.random.default_rng(11)
    sequences, steps = 32, 12
    inputs = rng.integers(-5, 6, (sequences, steps, HIDDEN)).astype(np.float32)
    with grpc.insecure_channel(server.grpc_address) as channel, ThreadPoolExecutor(16) as pool:
        got = list(
            pool.map(lambda i: _sequence(channel, model, 700 + i, inputs[i]), range(sequences))
        )
    for outputs, xs in zip(got, inputs, strict=True):
        np.testing.assert_array_equal(outputs, expected_outputs(xs))
    if model == "axis_one_b":
        assert max(_batch_sizes(server)) > 1


@pytest.mark.parametrize("model", ["axis_one", "axis_one_b"])
def test_served_names_are_the_model_as_read(server, model):
    with grpc.insecure_channel(server.grpc_address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        metadata = get_model_metadata_pb2.GetModelMetadataRequest()
        metadata.model_spec.name = model
        metadata.metadata_field.append("signature_def")
        signature = stub.GetModelMetadata(metadata, timeout=10).metadata["signature_def"].value
        assert b"output" in signature and MERGED.encode() not in signature
    kserve = triton.InferenceServerClient(server.grpc_address)
    described = kserve.get_model_metadata(model)
    assert [t.name for t in described.inputs] == ["input"]
    assert [t.name for t in described.outputs] == ["output"]
    x = np.arange(HIDDEN, dtype=np.float32)[None]
    tensor = triton.InferInput("input", [1, HIDDEN], "FP32")
    tensor.set_data_from_numpy(x)
    result = kserve.infer(
        model,
        [tensor],
        outputs=[triton.InferRequestedOutput("output")],
        sequence_id=900,
        sequence_start=True,
        sequence_end=True,
    )
    np.testing.assert_array_equal(result.as_numpy("output"), expected_outputs(x))
    assert [o.name for o in result.get_response().outputs] == ["output"]
    kserve.close()
    status, body = rest(server.rest_url, f"/v2/models/{model}")
    assert status == 200
    assert [o["name"] for o in body["outputs"]] == ["output"]
    status, body = rest(
        server.rest_url,
        f"/v1/models/{model}:predict",
        {"inputs": {"input": x.tolist(), "sequence_id": [901], "sequence_control_input": [1]}},
    )
    assert status == 200
    assert set(body["outputs"]) == {"output", "sequence_id"}
    np.testing.assert_array_equal(np.array(body["outputs"]["output"]), expected_outputs(x))


def _silero_state_axes(path: Path) -> list[tuple[str, int]]:
    """Silero VAD made stateful as notebook 06 serves it; each state's found batch axis."""
    model = ov.Core().read_model(path)
    pairs = {
        port.get_any_name(): out.get_any_name()
        for port in model.inputs
        for out in model.outputs
        if port.get_any_name() == "state" and out.get_any_name() == "stateN"
    }
    manager = passes.Manager()
    manager.register_pass(passes.MakeStateful(pairs))
    manager.run_passes(model)
    states, not_found = find_batch_axes(model, _state_specs(model))
    assert not_found == ""
    return [(s.name, s.batch_axis) for s in states]


@pytest.mark.skipif(not SILERO.exists(), reason="Silero VAD is committed with notebook 06")
def test_silero_vad_state_batches_along_axis_one():
    assert [axis for _, axis in _silero_state_axes(SILERO)] == [1]


def _silero_made_stateful() -> ov.Model:
    """Silero VAD with its state `state` -> `stateN` made a variable (notebook 06's model)."""
    model = ov.Core().read_model(SILERO)
    manager = passes.Manager()
    manager.register_pass(passes.MakeStateful({"state": "stateN"}))
    manager.run_passes(model)
    return model


@pytest.mark.skipif(not SILERO.exists(), reason="Silero VAD is committed with notebook 06")
def test_silero_vad_served_with_batching_equals_its_explicit_state_loop(tmp_path):
    """Several microphones as concurrent sequences, batched: each equals the original model
    stepped in-process with its state fed back by hand."""
    microphones, chunks = 6, 8
    audio = np.random.default_rng(3).uniform(-0.5, 0.5, (microphones, chunks, 1, 576))
    audio = audio.astype(np.float32)
    loop = ov.Core().compile_model(SILERO, "CPU", EXACT_F32).create_infer_request()
    expected = np.zeros((microphones, chunks), np.float32)
    for mic in range(microphones):
        state = np.zeros((2, 1, 128), np.float32)
        for chunk in range(chunks):
            result = loop.infer({"input": audio[mic, chunk], "state": state})
            expected[mic, chunk] = result["output"].item()
            state = result["stateN"]
    config = [
        {
            "name": "vad",
            "stateful": True,
            "plugin_config": EXACT_F32,
            "sequence_batching": {"max_batch_size": 8, "max_queue_delay_microseconds": 2000},
        }
    ]
    with serve_repository(
        tmp_path, {"vad": _silero_made_stateful()}, config, file_poll_seconds=0, debug_log=True
    ) as handle:
        kserve = triton.InferenceServerClient(handle.grpc_address)
        assert [t.name for t in kserve.get_model_metadata("vad").outputs] == ["output"]

        def microphone(mic: int) -> list[float]:
            got = []
            with grpc.insecure_channel(handle.grpc_address) as channel:
                for chunk in range(chunks):
                    control = START if chunk == 0 else END if chunk == chunks - 1 else None
                    sent = request("vad", {"input": audio[mic, chunk]}, 40 + mic, control)
                    response = predict(channel, sent)
                    got.append(np.frombuffer(response.outputs["output"].tensor_content, "<f4")[0])
            return got

        with ThreadPoolExecutor(microphones) as pool:
            served = np.array(list(pool.map(microphone, range(microphones))), np.float32)
        kserve.close()
        assert max(_batch_sizes(handle)) > 1
    np.testing.assert_allclose(served, expected, rtol=0, atol=1e-5)
