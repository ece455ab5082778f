"""Builders for the summator: the smallest stateful model (a running sum) and its stateless twin.

`make_variable` and `build_summator` are written out in notebook 01's cells, word for word (kept
equal by tests/test_summator.py); later notebooks, the server tests and benchmarks import them here.
"""

import numpy as np
import openvino as ov
import openvino.opset13 as ops
from openvino.op.util import Variable, VariableInfo

from helpers.paths import DOCUMENTED_SUMMATOR_XML

SHAPE: list[int] = [1, 1]  # one sequence, one number per step


def make_variable(variable_id: str, shape: list[int] = SHAPE) -> Variable:
    """Return an f32 Variable with a static shape, the object ReadValue and Assign share."""
    info = VariableInfo()
    info.variable_id = variable_id
    info.data_shape = ov.PartialShape(shape)
    info.data_type = ov.Type.f32
    return Variable(info)


def build_summator(
    initial_value: float | np.ndarray = 0.0, variable_id: str = "sum", shape: list[int] = SHAPE
) -> ov.Model:
    """Return a stateful model whose output and state are the running sum of its inputs."""
    x = ops.parameter(shape, np.float32, name="x")
    variable = make_variable(variable_id, shape)
    init = ops.constant(np.full(shape, initial_value, dtype=np.float32), name="initial_sum")
    read = ops.read_value(init, variable)  # the previous sum, or `init` when there is none
    read.set_friendly_name("read_sum")
    total = ops.add(read, x, name="add")
    assign = ops.assign(total, variable)  # stored for the next call
    assign.set_friendly_name("save_sum")  # assign() ignores name=, so it is named here
    result = ops.result(total, name="y")
    return ov.Model([result], [assign], [x], "summator")  # results, sinks, parameters


def build_stateless_summator() -> ov.Model:
    """Return the same running sum with the state as an explicit input/output pair."""
    x = ops.parameter(SHAPE, np.float32, name="x")
    state_in = ops.parameter(SHAPE, np.float32, name="state_in")
    total = ops.add(state_in, x)
    y = ops.result(total, name="y")
    # A separate tensor for the state output, so both Results keep their own names.
    state_out = ops.result(ops.convert(total, np.float32), name="state_out")
    return ov.Model([y, state_out], [x, state_in], "summator_stateless")


def read_documented_summator(core: ov.Core) -> ov.Model:
    """Read the IR v10 summator shipped in data/ (the XML from the OpenVINO docs)."""
    return core.read_model(DOCUMENTED_SUMMATOR_XML)
