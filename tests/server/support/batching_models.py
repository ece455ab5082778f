"""Models for the sequence-batching tests: stateful cells, notebook-style models, and models
that cannot be batched (a batch baked into a Reshape, a growing state)."""

import numpy as np
import openvino as ov
import openvino.opset13 as ops
from openvino import passes

from helpers.models.recurrent import RnnWeights, build_lstm_step_model
from helpers.models.summator import make_variable


def build_stateful_gru_cell(weights: RnnWeights) -> ov.Model:
    """x [1, I] -> y = h': one GRUCell step whose h lives in the variable `h`."""
    hidden = weights.hidden_size
    x = ops.parameter([1, weights.input_size], np.float32, name="x")
    h = ops.read_value(
        ops.constant(np.zeros((1, hidden), np.float32)), "h", np.float32, [1, hidden]
    )
    cell = ops.gru_cell(x, h, weights.W, weights.R, weights.B, hidden)
    h_next = ops.convert(cell.output(0), np.float32)
    return ov.Model([ops.result(h_next, name="y")], [ops.assign(h_next, "h")], [x], "gru_cell")


def build_made_stateful_lstm(weights: RnnWeights, head: np.ndarray) -> ov.Model:
    """Notebook 03's model: an LSTM step with a head, h and c made variables by MakeStateful."""
    model = build_lstm_step_model(weights, head)
    manager = passes.Manager()
    manager.register_pass(passes.MakeStateful({"h_in": "h_out", "c_in": "c_out"}))
    manager.run_passes(model)
    return model


def build_growing_state() -> ov.Model:
    """A state that grows by one column a step (a KV cache in miniature): x [1,1] -> y = sum."""
    x = ops.parameter([1, 1], np.float32, name="x")
    x.output(0).set_names({"x"})
    variable = make_variable("history", [1, -1])
    read = ops.read_value(ops.constant(np.zeros((1, 0), np.float32)), variable)
    grown = ops.concat([read, x], 1)
    total = ops.reduce_sum(grown, ops.constant([1]), True)
    y = ops.result(total, name="y")
    y.output(0).set_names({"y"})
    return ov.Model([y], [ops.assign(grown, variable)], [x], "growing")
