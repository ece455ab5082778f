"""Run the steps of several sequences as one inference of the stateless twin.

Part of sequence batching (an extension, not OVMS); the twin is built in `twin.py`.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import openvino as ov

from helpers.model_server.core.infer_pool import SavedState
from helpers.model_server.core.twin import StateSpec
from helpers.model_server.protocol.status import Code, ServingError

log = logging.getLogger("model_server.batching")

Outputs = dict[str, np.ndarray]


@dataclass(eq=False)
class Row:
    """One sequence's step: its inputs, its saved state (None at START) and, once run, results."""

    arrays: dict[str, np.ndarray]
    state: SavedState | None
    start: bool
    outputs: Outputs | None = None
    next_state: SavedState | None = None
    error: ServingError | None = None


class _SingleRow:
    """The twin compiled at batch 1: inputs written into the request's own tensors in place."""

    def __init__(
        self,
        compiled: ov.CompiledModel,
        input_names: list[str],
        output_names: list[str],
        states: list[StateSpec],
    ) -> None:
        self.request = request = compiled.create_infer_request()
        tensor = request.get_tensor
        inputs, outputs = _ports(compiled, len(input_names), len(output_names))
        self.inputs = [
            (name, tensor(port).data) for name, port in zip(input_names, inputs[0], strict=True)
        ]
        self.start = tensor(inputs[1]).data
        self.states = [
            (spec.name, tensor(port).data) for spec, port in zip(states, inputs[2], strict=True)
        ]
        self.outputs = [
            (name, tensor(port).data) for name, port in zip(output_names, outputs[0], strict=True)
        ]
        self.next_states = [
            (spec.name, tensor(port).data) for spec, port in zip(states, outputs[1], strict=True)
        ]

    def run(self, row: Row) -> None:
        """One row: write, infer, copy out."""
        for name, view in self.inputs:
            view[...] = row.arrays[name]
        self.start[0] = row.start
        if not row.start and self.states:
            state = row.state
            assert state is not None, "a step after START carries its sequence's saved state"
            for name, view in self.states:
                view[...] = state[name]
        self.request.infer()
        row.outputs = {name: view.copy() for name, view in self.outputs}
        row.next_state = {name: view.copy() for name, view in self.next_states}


def _ports(
    compiled: ov.CompiledModel, inputs: int, outputs: int
) -> tuple[tuple[list[ov.ConstOutput], ov.ConstOutput, list[ov.ConstOutput]], tuple[list, list]]:
    """The compiled twin's ports by position (see `make_twin`), never by name: the plugin may
    merge other tensor names into a port, and the served names are those of the model as read.
    Inputs: (model inputs, start, states); outputs: (model outputs, states)."""
    ins, outs = compiled.inputs, compiled.outputs
    return (ins[:inputs], ins[inputs], ins[inputs + 1 :]), (outs[:outputs], outs[outputs:])


def _row(data: np.ndarray, axis: int, index: int) -> np.ndarray:
    """A copy of row `index` of `data` along `axis`, keeping that axis (size 1)."""
    return data[(slice(None),) * axis + (slice(index, index + 1),)].copy()


class BatchRunner:
    """The compiled twin and its one infer request: rows in, per-row outputs and states out.

    A batch of one runs on the twin compiled at batch 1 (a dynamic batch costs a few hundred µs
    of shape handling per inference, which a lone request would pay in full).
    """

    def __init__(
        self,
        compile_twin: Callable[[int | None], ov.CompiledModel],
        input_names: list[str],
        output_names: list[str],
        states: list[StateSpec],
    ) -> None:
        self._compile = compile_twin
        self.input_names = input_names
        self.output_names = output_names
        self.states = states
        self._blank = {s.name: np.zeros(s.shape, s.dtype) for s in states}
        self._attach(compile_twin(None), compile_twin(1))

    def _attach(self, compiled: ov.CompiledModel, single: ov.CompiledModel) -> None:
        """Take (re)compiled twins and new infer requests on them."""
        self._compiled = compiled
        self._single_compiled = single
        self._request = compiled.create_infer_request()
        inputs, outputs = _ports(compiled, len(self.input_names), len(self.output_names))
        self._inputs = inputs[0]
        self._start = inputs[1]
        self._state_inputs = inputs[2]
        self._outputs = outputs[0]
        self._state_outputs = outputs[1]
        self._single = _SingleRow(single, self.input_names, self.output_names, self.states)

    def run(self, rows: list[Row]) -> None:
        """Fill every row's outputs and next state, or its error; a failing batch is retried
        row by row so that only the row that fails gets the error."""
        try:
            self._infer(rows)
        except RuntimeError as error:
            self._renew()
            if len(rows) == 1:
                log.error("Inference failed: %s", error)
                rows[0].error = ServingError(Code.OV_INTERNAL_INFERENCE_ERROR)
                return
            log.warning("A batch of %d failed (%s); running its rows one by one", len(rows), error)
            for row in rows:
                self.run([row])

    def _infer(self, rows: list[Row]) -> None:
        """One inference over all rows."""
        if len(rows) == 1:
            self._single.run(rows[0])
            return
        feed: dict[ov.ConstOutput, np.ndarray] = {
            port: np.concatenate([row.arrays[name] for row in rows])
            for name, port in zip(self.input_names, self._inputs, strict=True)
        }
        feed[self._start] = np.array([row.start for row in rows], dtype=bool)
        for spec, port in zip(self.states, self._state_inputs, strict=True):
            blank = self._blank[spec.name]
            feed[port] = np.concatenate(
                [blank if row.state is None else row.state[spec.name] for row in rows],
                axis=spec.batch_axis,
            )
        request = self._request
        request.infer(feed)
        outputs = [
            (name, request.get_tensor(port).data)
            for name, port in zip(self.output_names, self._outputs, strict=True)
        ]
        states = [
            (spec, request.get_tensor(port).data)
            for spec, port in zip(self.states, self._state_outputs, strict=True)
        ]
        for index, row in enumerate(rows):
            row.outputs = {name: data[index : index + 1].copy() for name, data in outputs}
            row.next_state = {
                spec.name: _row(data, spec.batch_axis, index) for spec, data in states
            }

    def _renew(self) -> None:
        """After a failure: recompile (the CPU plugin can keep failing a dynamic model's shapes)."""
        try:
            self._attach(self._compile(None), self._compile(1))
        except Exception:
            log.exception("Could not recompile the batched model; keeping the old one")
            self._attach(self._compiled, self._single_compiled)
