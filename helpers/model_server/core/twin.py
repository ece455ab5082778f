"""The stateless twin of a stateful model, for sequence batching (an extension, not OVMS).

Each ReadValue becomes a Parameter `state_in` selected per row against the variable's own
initializer by a boolean `start` input (so START rows begin from the initial value, computed in
the graph as the unbatched path does), each Assign becomes a Result `state_out` (MakeStateful in
reverse), and the batch axis of every input and state is made dynamic: the batch of sequences.

Inputs carry their batch first. A state may carry it on any axis (Silero VAD's state is
[2, batch, 128]); `find_batch_axes` locates it by shape inference (see there).
"""

import itertools
from dataclasses import dataclass

import numpy as np
import openvino as ov
import openvino.opset13 as ops

START_INPUT = "__sequence_start__"
STATE_IN = "__state_in__:"
STATE_OUT = "__state_out__:"
PROBE_BATCH = 2
MAX_AXIS_TRIALS = 32


class TwinError(ValueError):
    """The model cannot be batched across sequences; the message names the reason."""


@dataclass(frozen=True)
class StateSpec:
    """One variable as the twin carries it: name, dtype, per-sequence shape and batch axis."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    batch_axis: int = 0

    @property
    def input_name(self) -> str:
        """The twin's Parameter that takes this state's rows."""
        return STATE_IN + self.name

    @property
    def output_name(self) -> str:
        """The twin's Result that gives this state's next rows."""
        return STATE_OUT + self.name

    def batched_shape(self, batch: int) -> list[int]:
        """The state's shape with `batch` (-1: dynamic) on its batch axis."""
        shape = list(self.shape)
        shape[self.batch_axis] = batch
        return shape


def _static_shape(what: str, partial: ov.PartialShape) -> tuple[int, ...]:
    """The static shape of a port, or TwinError saying why it has none."""
    if partial.rank.is_dynamic or partial.rank.get_length() == 0:
        raise TwinError(f"{what} has no batch axis (shape {partial})")
    if not partial.is_static:
        raise TwinError(
            f"{what} has a dynamic dimension (shape {partial}), such as a growing KV cache; "
            "sequence batching serves only states and inputs of a fixed size"
        )
    return tuple(d.get_length() for d in partial)


def _named_parameter(shape: list[int], dtype: ov.Type, name: str) -> ov.Node:
    """A Parameter whose node and tensor both carry `name`."""
    parameter = ops.parameter(shape, dtype, name=name)
    parameter.output(0).set_names({name})
    return parameter


def _variables(model: ov.Model) -> tuple[dict[str, ov.Node], dict[str, ov.Node]]:
    """The model's ReadValue and Assign nodes by variable id (TwinError if they do not pair)."""
    reads = {
        op.get_variable_id(): op for op in model.get_ops() if op.get_type_name() == "ReadValue"
    }
    assigns = {sink.get_variable_id(): sink for sink in model.get_sinks()}
    if set(reads) != set(assigns):
        odd = sorted(set(reads) ^ set(assigns))[0]
        raise TwinError(f"variable {odd} is not both read and assigned once per step")
    return reads, assigns


def _state_specs(model: ov.Model) -> list[StateSpec]:
    """Every variable's name, dtype and static shape (batch axes not yet known)."""
    reads, _ = _variables(model)
    specs = []
    for name in sorted(reads):
        read = reads[name]
        shape = _static_shape(f"state {name}", read.get_output_partial_shape(0))
        specs.append(StateSpec(name, np.dtype(read.get_output_element_type(0).to_dtype()), shape))
    return specs


def _rewrite(model: ov.Model, states: list[StateSpec], batch: int) -> ov.Model:
    """Turn `model` (changed in place) into the twin with every batch axis set to `batch`."""
    reads, assigns = _variables(model)
    # Built at batch 1 (a model that validates as it stands), then reshaped as a whole: the
    # reshape validates the model before it sets the new shapes.
    start = _named_parameter([1], ov.Type.boolean, START_INPUT)
    parameters, results = [start], []
    for state in states:
        read = reads[state.name]
        element = read.get_output_element_type(0)
        state_in = _named_parameter(list(state.shape), element, state.input_name)
        if read.get_input_size():
            initial = read.input_value(0)
        else:
            initial = ops.constant(np.zeros(state.shape, state.dtype)).output(0)
        row_start = start
        other_axes = [axis for axis in range(len(state.shape)) if axis != state.batch_axis]
        if other_axes:
            row_start = ops.unsqueeze(start, ops.constant(np.array(other_axes, dtype=np.int64)))
        chosen = ops.select(row_start, initial, state_in)
        read.output(0).replace(chosen.output(0))
        result = ops.result(assigns[state.name].input_value(0), name=state.output_name)
        result.output(0).set_names({state.output_name})
        model.remove_sink(assigns[state.name])
        parameters.append(state_in)
        results.append(result)
    for variable in list(model.get_variables()):
        model.remove_variable(variable)
    model.add_parameters(parameters)
    model.add_results(results)
    shapes = {
        port: ov.PartialShape([batch, *list(port.get_partial_shape())[1:]])
        for port in model.inputs[: -len(parameters)]
    }
    shapes[start.output(0)] = ov.PartialShape([batch])
    for state, state_in in zip(states, parameters[1:], strict=True):
        shapes[state_in.output(0)] = ov.PartialShape(state.batched_shape(batch))
    model.reshape(shapes)
    return model


def _follows_batch(twin: ov.Model, states: list[StateSpec], outputs: int, batch: int) -> bool:
    """True when every state comes out as it went in and every output has `batch` rows."""
    ports = twin.outputs
    for port in ports[:outputs]:
        dims = list(port.get_partial_shape())
        if not dims or dims[0].is_dynamic or dims[0].get_length() != batch:
            return False
    for state, port in zip(states, ports[outputs:], strict=True):
        partial = port.get_partial_shape()
        if not partial.is_static or [d.get_length() for d in partial] != state.batched_shape(batch):
            return False
    return True


def find_batch_axes(model: ov.Model, states: list[StateSpec]) -> tuple[list[StateSpec], str]:
    """The states with their batch axes, located by shape inference, and "" (found) or the
    reason none was found (the states then come with their first candidate axes).

    A state's batch axis is one of its axes of size 1. For each choice of one such axis per
    state (axis 0 first), a copy of the twin is built with every input's batch and every
    state's chosen axis set to 2, and OpenVINO's shape inference runs over it: the choice that
    gives each state back at the shape it went in with, and every output 2 rows, is the one the
    model batches along. A wrong axis makes an elementwise op broadcast to [2, 2, ...] or a
    sequence op reject its shapes, so it fails the check.
    """
    candidates = []
    for state in states:
        axes = [axis for axis, size in enumerate(state.shape) if size == 1]
        if not axes:
            raise TwinError(
                f"state {state.name} has no axis of size 1 to batch along "
                f"(shape {list(state.shape)})"
            )
        candidates.append(axes)
    reason = "no choice of batch axes keeps the states' shapes"
    for trial, choice in enumerate(itertools.product(*candidates)):
        if trial == MAX_AXIS_TRIALS:
            break
        chosen = [
            StateSpec(s.name, s.dtype, s.shape, axis)
            for s, axis in zip(states, choice, strict=True)
        ]
        try:
            twin = _rewrite(model.clone(), chosen, PROBE_BATCH)
        except RuntimeError as error:
            reason = _last_line(error)
            continue
        if _follows_batch(twin, chosen, len(model.outputs), PROBE_BATCH):
            return chosen, ""
    shapes = ", ".join(f"{s.name} {list(s.shape)}" for s in states)
    first = [
        StateSpec(s.name, s.dtype, s.shape, axes[0])
        for s, axes in zip(states, candidates, strict=True)
    ]
    return first, f"no batch axis found for the states ({shapes}): {reason}"


def make_twin(model: ov.Model) -> tuple[ov.Model, list[StateSpec]]:
    """Turn `model` (changed in place) into its stateless, batch-dynamic twin and its states.

    The twin's inputs are the model's inputs, then START_INPUT, then one per state; its outputs
    are the model's outputs, then one per state.
    """
    for port in model.inputs:
        shape = _static_shape(f"input {port.get_any_name()}", port.get_partial_shape())
        if shape[0] != 1:
            raise TwinError(
                f"input {port.get_any_name()} has no batch axis of size 1 first "
                f"(shape {list(shape)})"
            )
    outputs = len(model.outputs)
    states, not_found = find_batch_axes(model, _state_specs(model))
    try:
        _rewrite(model, states, -1)
    except RuntimeError as error:
        raise TwinError(
            f"the model cannot be reshaped to a dynamic batch: {_last_line(error)}"
        ) from error
    for port in model.outputs[:outputs]:
        dims = list(port.get_partial_shape())
        if not dims or dims[0].is_static:
            raise TwinError(
                f"output {port.get_any_name()} does not follow the batch axis "
                f"(shape {port.get_partial_shape()} with a dynamic batch)"
            )
    if not_found:  # checked last: the checks above name the cause more precisely
        raise TwinError(not_found)
    return model, states


def _last_line(error: Exception) -> str:
    """The last line of an OpenVINO error (the reason; the rest is a stack)."""
    lines = str(error).strip().splitlines()
    return lines[-1] if lines else "failed"
