"""The Keras forecaster's one-step twin, converted and made stateful, streams Keras' own output."""

import numpy as np
import pytest
from openvino import passes

from helpers.models import keras_forecaster
from helpers.models.forecast_data import sine_mixture
from helpers.models.keras_forecaster import (
    STEP_OUTPUTS,
    build_forecaster,
    build_step_model,
    convert_quietly,
    drop_inner_tensor_names,
    name_step_outputs,
    train_forecaster,
)
from tests.notebook_cells import functions_in_module, functions_in_notebook

HIDDEN = 8


@pytest.fixture(scope="module")
def forecaster():
    return build_forecaster(HIDDEN, seed=0)  # untrained weights are as good for equality checks


def test_training_lowers_the_loss():
    model = build_forecaster(4, seed=1)
    losses = train_forecaster(model, sine_mixture(64, 17, seed=0), epochs=3)
    assert len(losses) == 3 and losses[-1] < losses[0]


def test_step_model_repeats_the_full_model_one_step_at_a_time(forecaster):
    signal = sine_mixture(1, 25, seed=1)
    full = forecaster(signal).numpy()[0, :, 0]
    step = build_step_model(forecaster)
    h = c = np.zeros((1, HIDDEN), np.float32)
    outputs = []
    for t in range(signal.shape[1]):
        y, h, c = (np.asarray(v) for v in step([signal[:, t : t + 1], h, c]))
        outputs.append(float(y[0, 0, 0]))
    assert np.allclose(outputs, full, atol=1e-5)


def test_converted_step_model_made_stateful_streams_the_keras_output(core, forecaster):
    signal = sine_mixture(1, 40, seed=2)
    full = forecaster(signal).numpy()[0, :, 0]
    keras_step = build_step_model(forecaster)
    ov_step = name_step_outputs(convert_quietly(keras_step), keras_step)
    assert sorted(o.get_any_name() for o in ov_step.outputs) == sorted(STEP_OUTPUTS)
    assert [i.get_any_name() for i in ov_step.inputs] == ["x", "h_in", "c_in"]

    manager = passes.Manager()
    manager.register_pass(passes.MakeStateful({"h_in": "h_out", "c_in": "c_out"}))
    manager.run_passes(ov_step)
    request = core.compile_model(ov_step, "CPU").create_infer_request()
    streamed = [
        float(request.infer({"x": signal[:, t : t + 1]})["y"][0, 0, 0])
        for t in range(signal.shape[1])
    ]
    assert np.allclose(streamed, full, atol=1e-5)
    assert sorted(s.name for s in request.query_state()) == ["c_inc_out", "h_inh_out"]


def test_full_keras_lstm_converts_to_a_loop_that_low_latency2_rejects(forecaster):
    model = convert_quietly(forecaster)
    assert any(op.get_type_name() == "Loop" for op in model.get_ordered_ops())
    model.reshape({"x": [1, 1, 1]})
    manager = passes.Manager()
    manager.register_pass(passes.LowLatency2())
    with pytest.raises(RuntimeError, match="Broadcast target_shape has smaller rank"):
        manager.run_passes(model)


def test_drop_inner_tensor_names_keeps_only_input_and_output_names(core, forecaster):
    keras_step = build_step_model(forecaster)
    model = drop_inner_tensor_names(name_step_outputs(convert_quietly(keras_step), keras_step))
    named = {name for op in model.get_ordered_ops() for out in op.outputs() for name in out.names}
    ports = {name for port in [*model.inputs, *model.outputs] for name in port.names}
    assert {"x", "h_in", "c_in", "y", "h_out", "c_out"} <= ports
    assert not any("/" in name for name in named)  # no TensorFlow node names left
    assert named == ports
    compiled = core.compile_model(model, "CPU")
    assert sorted(o.get_any_name() for o in compiled.outputs) == sorted(STEP_OUTPUTS)


def test_notebook_05_defines_the_step_model_word_for_word():
    in_cells = functions_in_notebook("05_low_latency2_framework_models.ipynb")
    assert in_cells["build_step_model"] == functions_in_module(keras_forecaster)["build_step_model"]
