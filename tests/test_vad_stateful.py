"""Silero VAD made stateful (state Variable, then the audio context too) equals onnxruntime's loop.

The reference is the authors' own driving loop on onnxruntime: 64 samples of context in front of
512 new ones, the state fed back by the application. Independent of notebook 06.
"""

import numpy as np
import onnxruntime
import openvino as ov
import pytest

from helpers.audio.files import SILERO_VAD_ONNX, read_wav, split_chunks
from helpers.audio.silero_stateful import add_audio_context, make_state_variable

TOLERANCE = 1e-4  # measured about 1e-5 with f32 on the CPU plugin


def authors_loop(chunks: np.ndarray) -> np.ndarray:
    """Speech probability per chunk, as Silero's wrapper computes it with onnxruntime."""
    session = onnxruntime.InferenceSession(str(SILERO_VAD_ONNX), providers=["CPUExecutionProvider"])
    state = np.zeros((2, 1, 128), np.float32)
    context = np.zeros((1, 64), np.float32)
    probabilities = []
    for chunk in chunks:
        window = np.concatenate([context, chunk[None]], axis=1)
        output, state = session.run(["output", "stateN"], {"input": window, "state": state})
        context = window[:, -64:]
        probabilities.append(float(output[0, 0]))
    return np.array(probabilities)


@pytest.fixture(scope="module")
def core() -> ov.Core:
    core = ov.Core()
    core.set_property("CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return core


@pytest.fixture(scope="module")
def original(core) -> ov.Model:
    return core.read_model(SILERO_VAD_ONNX)


@pytest.fixture(scope="module", params=["speech", "noise"])
def chunks(request) -> np.ndarray:
    if request.param == "speech":
        return split_chunks(read_wav())
    rng = np.random.default_rng(7)
    return split_chunks((0.05 * rng.standard_normal(16_000 * 3)).astype(np.float32))


def test_state_variable_equals_the_authors_loop(core, original, chunks):
    stateful = make_state_variable(original)
    assert [port.get_any_name() for port in stateful.inputs] == ["input"]
    assert [port.get_any_name() for port in stateful.outputs] == ["output"]
    assert [v.info.variable_id for v in stateful.get_variables()] == ["statestateN"]
    request = core.compile_model(stateful, "CPU").create_infer_request()
    context = np.zeros((1, 64), np.float32)
    got = []
    for chunk in chunks:
        window = np.concatenate([context, chunk[None]], axis=1)
        got.append(float(request.infer({"input": window})["output"][0, 0]))
        context = window[:, -64:]
    np.testing.assert_allclose(got, authors_loop(chunks), atol=TOLERANCE)


def test_audio_context_variable_equals_the_authors_loop(core, original, chunks):
    model = add_audio_context(make_state_variable(original))
    assert [port.get_any_name() for port in model.inputs] == ["chunk"]
    assert model.input("chunk").get_partial_shape() == ov.PartialShape([1, 512])
    assert sorted(v.info.variable_id for v in model.get_variables()) == ["context", "statestateN"]
    request = core.compile_model(model, "CPU").create_infer_request()
    got = [float(request.infer({"chunk": chunk[None]})["output"][0, 0]) for chunk in chunks]
    np.testing.assert_allclose(got, authors_loop(chunks), atol=TOLERANCE)


def test_reset_state_starts_a_second_recording_like_a_fresh_loop(core, original):
    model = add_audio_context(make_state_variable(original))
    request = core.compile_model(model, "CPU").create_infer_request()
    speech = split_chunks(read_wav())
    for chunk in speech[:100]:
        request.infer({"chunk": chunk[None]})
    request.reset_state()
    second = speech[100:160]
    got = [float(request.infer({"chunk": chunk[None]})["output"][0, 0]) for chunk in second]
    np.testing.assert_allclose(got, authors_loop(second), atol=TOLERANCE)


def test_the_speech_file_has_speech_and_silence_by_the_reference():
    probabilities = authors_loop(split_chunks(read_wav()))
    assert probabilities[:15].max() < 0.5  # the leading 0.6 s pause (18 chunks; 15 clear of it)
    assert 0.3 < (probabilities >= 0.5).mean() < 0.9
