"""Small models for the server tests, built here so the tests depend on no other builder."""

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from helpers.serving.protocol import EXACT_F32  # the served LSTMs are compared with f32 NumPy

# The main server's config.json: one process serves every model the shared tests need.
MAIN_MODELS: list[dict[str, object]] = [
    {"name": "summator", "stateful": True, "idle_sequence_cleanup": False},
    {"name": "ids", "base_path": "summator", "stateful": True},
    {"name": "limited", "base_path": "summator", "stateful": True, "max_sequence_number": 3},
    {"name": "idle", "base_path": "summator", "stateful": True},
    {"name": "dummy"},
    {"name": "dummy_stateful", "base_path": "dummy", "stateful": True},
    {
        "name": "ti_ll",
        "stateful": True,
        "low_latency_transformation": True,
        "plugin_config": EXACT_F32,
    },
    {"name": "ti_plain", "base_path": "ti_ll", "stateful": True, "plugin_config": EXACT_F32},
]
CLEANER_SECONDS = 1


def build_dummy() -> ov.Model:
    """OVMS's `dummy`: input `b` f32 [1,10], output `a` = b + 1, no state."""
    b = ops.parameter([1, 10], np.float32, name="b")
    b.output(0).set_names({"b"})
    total = ops.add(b, ops.constant(np.ones((1, 10), np.float32)))
    return ov.Model([ops.result(total, name="a")], [b], "dummy")


def lstm_weights(inputs: int, hidden: int, seed: int) -> tuple[np.ndarray, ...]:
    """Deterministic LSTMCell weights W [4H,I], R [4H,H], B [4H]."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((4 * hidden, inputs)).astype(np.float32) * 0.5
    r = rng.standard_normal((4 * hidden, hidden)).astype(np.float32) * 0.5
    b = rng.standard_normal(4 * hidden).astype(np.float32) * 0.1
    return w, r, b


def build_tensor_iterator_lstm(steps: int, inputs: int = 3, hidden: int = 8) -> ov.Model:
    """A TensorIterator over an LSTMCell body: X [1,steps,I] -> Y [1,steps,H], zero h0/c0."""
    w, r, b = lstm_weights(inputs, hidden, seed=0)
    x = ops.parameter([1, steps, inputs], np.float32, name="X")
    x.output(0).set_names({"X"})
    xt = ops.parameter([1, 1, inputs], np.float32, name="xt")
    h = ops.parameter([1, hidden], np.float32, name="h")
    c = ops.parameter([1, hidden], np.float32, name="c")
    axis = ops.constant(np.array([1], np.int64))
    cell = ops.lstm_cell(ops.squeeze(xt, axis), h, c, w, r, b, hidden)
    h_out, c_out = ops.result(cell.output(0)), ops.result(cell.output(1))
    y_out = ops.result(ops.unsqueeze(cell.output(0), axis))
    body = ov.Model([h_out, c_out, y_out], [xt, h, c], "body")
    loop = ops.tensor_iterator()
    loop.set_body(body)
    loop.set_friendly_name("lstm_ti")
    loop.set_sliced_input(xt, x.output(0), 0, 1, 1, -1, 1)
    zeros = np.zeros((1, hidden), np.float32)
    loop.set_merged_input(h, ops.constant(zeros).output(0), h_out.output(0))
    loop.set_merged_input(c, ops.constant(zeros).output(0), c_out.output(0))
    y = loop.get_concatenated_slices(y_out.output(0), 0, 1, 1, -1, 1)
    return ov.Model([ops.result(y, name="Y")], [x], "ti_lstm")
