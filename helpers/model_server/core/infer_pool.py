"""A fixed pool of OpenVINO infer requests, each with its input views and states looked up once.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

import logging
import queue
from collections.abc import Callable

import numpy as np
import openvino as ov

from helpers.model_server.protocol.signature import TensorSpec

log = logging.getLogger("model_server.infer_pool")

SavedState = dict[str, np.ndarray]


class InferSlot:
    """One infer request plus what the hot path needs from it, looked up once."""

    def __init__(
        self,
        compiled: ov.CompiledModel,
        inputs: dict[str, TensorSpec],
        outputs: dict[str, TensorSpec],
        recompile: Callable[[], ov.CompiledModel] | None = None,
    ) -> None:
        self._compiled = compiled
        self._inputs = inputs
        self._output_specs = outputs
        self._recompile = recompile
        self._attach()

    def renew(self) -> None:
        """After a failure: a new infer request, on a recompiled model when `recompile` is set."""
        if self._recompile is not None:
            try:
                self._compiled = self._recompile()
            except Exception:
                log.exception("Could not recompile the model; keeping the old one")
        self._attach()

    def _attach(self) -> None:
        """Create the infer request and look up its states, input views and output views."""
        compiled, inputs, outputs = self._compiled, self._inputs, self._output_specs
        self.request = compiled.create_infer_request()
        self.states = self.request.query_state()
        # Ports by position: the served names are the model's as read, which the compiled
        # ports may not answer to (`loader._specs` builds `inputs` and `outputs` in port order).
        self._input_ports = dict(zip(inputs, compiled.inputs, strict=True))
        # Static inputs are written in place into the request's own tensors: one copy, no lookup.
        self._views: dict[str, np.ndarray] = {
            name: self.request.get_tensor(self._input_ports[name]).data
            for name, spec in inputs.items()
            if spec.is_static
        }
        self._outputs = list(zip(outputs, compiled.outputs, strict=True))
        # Static outputs live in the request's own tensors: their views are looked up once.
        static = all(spec.is_static for spec in outputs.values())
        self._output_views = (
            [(name, self.request.get_tensor(port).data) for name, port in self._outputs]
            if static
            else None
        )
        # The saved copy this request's variables still hold (set by save, cleared by anything
        # else that changes them): restoring that same copy again would be a no-op.
        self._resident: SavedState | None = None

    def set_inputs(self, arrays: dict[str, np.ndarray]) -> None:
        """Write each input array into the request."""
        for name, array in arrays.items():
            view = self._views.get(name)
            if view is not None:
                view[...] = array
            else:
                port = self._input_ports[name]
                self.request.set_tensor(port, ov.Tensor(np.ascontiguousarray(array)))

    def infer(self) -> dict[str, np.ndarray]:
        """Run one synchronous inference and return copies of the outputs."""
        self._resident = None
        self.request.infer()
        if self._output_views is not None:
            return {name: view.copy() for name, view in self._output_views}
        return {name: self.request.get_tensor(port).data.copy() for name, port in self._outputs}

    def save_states(self) -> SavedState:
        """Deep copies of every variable state (which this request then still holds)."""
        saved = {state.name: state.state.data.copy() for state in self.states}
        self._resident = saved
        return saved

    def restore_states(self, saved: SavedState) -> None:
        """Load a sequence's saved states; KeyError if one is missing.

        Skipped when this request's variables already hold exactly `saved`: the sequence's
        previous step ran here and saved it, and nothing has run on this request since.
        """
        if saved is self._resident:
            return
        self._resident = None
        for state in self.states:
            state.state = ov.Tensor(saved[state.name], shared_memory=True)

    def reset_states(self) -> None:
        """Reset every variable to its initial value."""
        self._resident = None
        self.request.reset_state()


class InferPool:
    """`nireq` infer slots; taking one blocks until one is free."""

    def __init__(self, slots: list[InferSlot]) -> None:
        self.size = len(slots)
        self._free: queue.SimpleQueue[InferSlot] = queue.SimpleQueue()
        for slot in slots:
            self._free.put(slot)

    def take(self) -> InferSlot:
        """Wait for and return a free slot."""
        return self._free.get()

    def give_back(self, slot: InferSlot) -> None:
        """Return a slot to the pool."""
        self._free.put(slot)
