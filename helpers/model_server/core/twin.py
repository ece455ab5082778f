"""The stateless twin of a stateful model, for sequence batching (an extension, not OVMS).

Each ReadValue becomes a Parameter `state_in` selected per row against the variable's own
initializer by a boolean `start` input (so START rows begin from the initial value, computed in
the graph as the unbatched path does), each Assign becomes a Result `state_out` (MakeStateful in
reverse), and the first axis of every input is made dynamic: the batch of sequences.
"""

from dataclasses import dataclass

import numpy as np
import openvino as ov
import openvino.opset13 as ops

START_INPUT = "__sequence_start__"
STATE_IN = "__state_in__:"
STATE_OUT = "__state_out__:"


class TwinError(ValueError):
    """The model cannot be batched across sequences; the message names the reason."""


@dataclass(frozen=True)
class StateSpec:
    """One variable as the twin carries it: name, dtype and its per-sequence shape [1, ...]."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]

    @property
    def input_name(self) -> str:
        """The twin's Parameter that takes this state's rows."""
        return STATE_IN + self.name

    @property
    def output_name(self) -> str:
        """The twin's Result that gives this state's next rows."""
        return STATE_OUT + self.name


def _batch_one_shape(what: str, partial: ov.PartialShape) -> tuple[int, ...]:
    """The static shape of a port whose first axis is a batch of 1, or TwinError saying why not."""
    if partial.rank.is_dynamic or partial.rank.get_length() == 0:
        raise TwinError(f"{what} has no batch axis (shape {partial})")
    if not partial.is_static:
        raise TwinError(
            f"{what} has a dynamic dimension (shape {partial}), such as a growing KV cache; "
            "sequence batching serves only states and inputs of a fixed size"
        )
    shape = tuple(d.get_length() for d in partial)
    if shape[0] != 1:
        raise TwinError(f"{what} has no batch axis of size 1 first (shape {partial})")
    return shape


def _named_parameter(shape: list[int], dtype: ov.Type, name: str) -> ov.Node:
    """A Parameter whose node and tensor both carry `name`."""
    parameter = ops.parameter(shape, dtype, name=name)
    parameter.output(0).set_names({name})
    return parameter


def make_twin(model: ov.Model) -> tuple[ov.Model, list[StateSpec]]:
    """Turn `model` (changed in place) into its stateless, batch-dynamic twin and its states."""
    ops_list = model.get_ops()
    reads = {op.get_variable_id(): op for op in ops_list if op.get_type_name() == "ReadValue"}
    assigns = {sink.get_variable_id(): sink for sink in model.get_sinks()}
    if set(reads) != set(assigns):
        odd = sorted(set(reads) ^ set(assigns))[0]
        raise TwinError(f"variable {odd} is not both read and assigned once per step")
    for port in model.inputs:
        _batch_one_shape(f"input {port.get_any_name()}", port.get_partial_shape())
    start = _named_parameter([-1], ov.Type.boolean, START_INPUT)
    states, parameters, results = [], [start], []
    for name in sorted(reads):
        read = reads[name]
        shape = _batch_one_shape(f"state {name}", read.get_output_partial_shape(0))
        element = read.get_output_element_type(0)
        state = StateSpec(name, np.dtype(element.to_dtype()), shape)
        state_in = _named_parameter([-1, *shape[1:]], element, state.input_name)
        if read.get_input_size():
            initial = read.input_value(0)
        else:
            initial = ops.constant(np.zeros(shape, state.dtype)).output(0)
        row_start = start
        if len(shape) > 1:
            row_start = ops.unsqueeze(start, ops.constant(np.arange(1, len(shape), dtype=np.int64)))
        chosen = ops.select(row_start, initial, state_in)
        read.output(0).replace(chosen.output(0))
        result = ops.result(assigns[name].input_value(0), name=state.output_name)
        result.output(0).set_names({state.output_name})
        model.remove_sink(assigns[name])
        states.append(state)
        parameters.append(state_in)
        results.append(result)
    for variable in list(model.get_variables()):
        model.remove_variable(variable)
    model.add_parameters(parameters)
    model.add_results(results)
    dynamic = {
        port.get_any_name(): ov.PartialShape([-1, *list(port.get_partial_shape())[1:]])
        for port in model.inputs
    }
    try:
        model.reshape(dynamic)
    except RuntimeError as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else "failed"
        raise TwinError(f"the model cannot be reshaped to a dynamic batch: {reason}") from error
    for port in model.outputs:
        dims = list(port.get_partial_shape())
        if not dims or dims[0].is_static:
            raise TwinError(
                f"output {port.get_any_name()} does not follow the batch axis "
                f"(shape {port.get_partial_shape()} with a dynamic batch)"
            )
    return model, states
