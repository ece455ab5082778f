"""Models for the serving benchmarks: a stateful LSTM cell with h and c as variables."""

import numpy as np
import openvino as ov
import openvino.opset13 as ops


def build_stateful_lstm_cell(hidden: int = 1024, inputs: int = 1024, seed: int = 0) -> ov.Model:
    """x [1,I] -> y = h' of an LSTMCell whose h and c live in ReadValue/Assign variables."""
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((4 * hidden, inputs)) * 0.02).astype(np.float32)
    r = (rng.standard_normal((4 * hidden, hidden)) * 0.02).astype(np.float32)
    b = np.zeros(4 * hidden, np.float32)
    x = ops.parameter([1, inputs], np.float32, name="x")
    x.output(0).set_names({"x"})
    zeros = ops.constant(np.zeros((1, hidden), np.float32))
    h = ops.read_value(zeros, "h", np.float32, [1, hidden])
    c = ops.read_value(zeros, "c", np.float32, [1, hidden])
    cell = ops.lstm_cell(x, h, c, w, r, b, hidden)
    h_next = ops.convert(cell.output(0), np.float32)
    c_next = ops.convert(cell.output(1), np.float32)
    sinks = [ops.assign(h_next, "h"), ops.assign(c_next, "c")]
    return ov.Model([ops.result(h_next, name="y")], sinks, [x], "lstm_cell_stateful")
