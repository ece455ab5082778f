"""The graph inspection helpers list, count and find ops, and predict LowLatency2's state names."""

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from openvino import passes

from helpers.graph.inspection import (
    find_op,
    graph_listing,
    low_latency2_state_names,
    op_type_counts,
)
from helpers.models.recurrent import (
    build_lstm_step_model,
    build_lstm_tensor_iterator,
    random_lstm_weights,
)
from tests.ov_passes import run_passes

HIDDEN, T = 8, 6
WEIGHTS = random_lstm_weights(3, HIDDEN, seed=0)


def _accumulating_tensor_iterator(merged_first: bool) -> ov.Model:
    """A TensorIterator summing x over time; `merged_first` sets the back edge before the slice."""
    x_t = ops.parameter([1, 1], np.float32, name="x_t")
    acc = ops.parameter([1, 1], np.float32, name="acc")
    total = ops.add(acc, x_t)
    body_total = ops.result(total)
    body = ov.Model([body_total], [x_t, acc], "sum_body")
    X = ops.parameter([1, 4], np.float32, name="X")
    A0 = ops.parameter([1, 1], np.float32, name="A0")
    ti = ops.tensor_iterator()
    ti.set_body(body)
    if merged_first:
        ti.set_merged_input(acc, A0.output(0), body_total.output(0))
        ti.set_sliced_input(x_t, X.output(0), 0, 1, 1, -1, 1)
    else:
        ti.set_sliced_input(x_t, X.output(0), 0, 1, 1, -1, 1)
        ti.set_merged_input(acc, A0.output(0), body_total.output(0))
    last = ti.get_iter_value(body_total.output(0), -1)
    ti.set_friendly_name("running_sum")
    return ov.Model([ops.result(last, name="total")], [X, A0], "running_sum")


@pytest.mark.parametrize(("merged_first", "index"), [(True, 0), (False, 1)])
def test_low_latency2_names_count_every_input_description(core, merged_first, index):
    model = _accumulating_tensor_iterator(merged_first)
    predicted = low_latency2_state_names(model)
    assert predicted == [f"running_sum/acc/variable_{index}"]
    run_passes(model, passes.LowLatency2())
    request = core.compile_model(model, "CPU").create_infer_request()
    chunk = {"X": np.ones((1, 4), np.float32), "A0": np.zeros((1, 1), np.float32)}
    assert request.infer(chunk)["total"][0, 0] == 4.0
    assert request.infer(chunk)["total"][0, 0] == 8.0  # no reshape: the state spans chunks
    assert [s.name for s in request.query_state()] == predicted


def test_graph_listing_shows_state_ops_and_hides_constants_and_generated_names():
    head = np.random.default_rng(3).uniform(-1, 1, size=(2, HIDDEN)).astype(np.float32)
    stateful = run_passes(
        build_lstm_step_model(WEIGHTS, head),
        passes.MakeStateful({"h_in": "h_out", "c_in": "c_out"}),
    )
    lines = graph_listing(stateful).splitlines()
    assert lines[0] == "Parameter x"
    assert "ReadValue[h_inh_out]" in lines and "ReadValue[c_inc_out]" in lines
    assert "Assign[h_inh_out]  <- LSTMCell lstm_cell:0" in lines
    assert "MatMul  <- LSTMCell lstm_cell:0, constant" in lines
    assert not any(line.startswith("Constant") for line in lines)
    assert "Constant" in graph_listing(stateful, hide=frozenset())


def test_op_type_counts_and_find_op():
    model = build_lstm_tensor_iterator(WEIGHTS, T)
    assert op_type_counts(model) == {"Parameter": 3, "TensorIterator": 1, "Result": 1}
    assert find_op(model, "lstm_ti").get_type_name() == "TensorIterator"
    with pytest.raises(KeyError):
        find_op(model, "no_such_op")
