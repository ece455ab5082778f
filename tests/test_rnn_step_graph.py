"""The stored TensorFlow graph of notebook 03 and its stored weights describe the same RNN step."""

import numpy as np
import openvino as ov

from helpers.paths import RNN_STEP_GRAPH, RNN_STEP_WEIGHTS


def test_graph_computes_the_step_from_the_stored_weights():
    with np.load(RNN_STEP_WEIGHTS) as stored:
        w_x, w_h, w_y = stored["W_x"], stored["W_h"], stored["W_y"]
    core = ov.Core()
    core.set_property("CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    request = core.compile_model(ov.convert_model(RNN_STEP_GRAPH), "CPU").create_infer_request()
    x = np.random.default_rng(0).standard_normal((1, 4)).astype(np.float32)
    expected = np.tanh(x @ w_x + np.zeros((1, 8)) @ w_h) @ w_y  # h0 is zero inside the graph
    assert np.allclose(request.infer({0: x})[0], expected, atol=1e-5)
    assert w_x.shape == (4, 8) and w_h.shape == (8, 8) and w_y.shape == (8, 2)
