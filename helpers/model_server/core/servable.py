"""A loaded model version: runs stateless requests, and stateful ones through its sequences.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

import logging

import numpy as np

from helpers.model_server.core.batcher import SequenceBatcher
from helpers.model_server.core.control_filler import ControlFiller
from helpers.model_server.core.infer_pool import InferPool, InferSlot
from helpers.model_server.core.sequences import (
    ExtendedSequenceRequest,
    Sequence,
    SequenceManager,
)
from helpers.model_server.protocol.signature import TensorSpec
from helpers.model_server.protocol.special_inputs import SequenceRequest
from helpers.model_server.protocol.status import Code, ServingError
from helpers.model_server.protocol.wire import Control

log = logging.getLogger("model_server.servable")

Outputs = dict[str, np.ndarray]


class Servable:
    """One compiled model version with its infer-request pool and, if stateful, its sequences."""

    def __init__(
        self,
        name: str,
        version: int,
        inputs: dict[str, TensorSpec],
        outputs: dict[str, TensorSpec],
        pool: InferPool,
        sequences: SequenceManager | None,
        batcher: SequenceBatcher | None = None,
        controls: ControlFiller | None = None,
    ) -> None:
        self.name = name
        self.version = version
        self.inputs = inputs
        self.outputs = outputs
        self.pool = pool
        self.sequences = sequences
        self.stateful = sequences is not None
        self.batcher = batcher  # sequence batching (an extension), or None
        self.controls = controls  # Triton's control inputs (an extension), or None

    def infer(self, arrays: dict[str, np.ndarray]) -> Outputs:
        """Run a stateless request (OpenVINO state, if any, is left as it is, like OVMS)."""
        slot = self.pool.take()
        try:
            return _run(slot, arrays)
        finally:
            self.pool.give_back(slot)

    def infer_in_sequence(
        self, arrays: dict[str, np.ndarray], request: SequenceRequest
    ) -> tuple[Outputs, int]:
        """Run a stateful request: manager step, then restore, infer and save under the
        sequence's own lock (the manager lock is not held while waiting for it)."""
        assert self.sequences is not None
        name = request.name if isinstance(request, ExtendedSequenceRequest) else None
        if self.controls is not None and (name is not None or request.sequence_id):
            self.controls.check_sequence_id(name if name is not None else request.sequence_id)
        sequence = self.sequences.claim(request)
        ending = request.control == Control.SEQUENCE_END
        try:
            with sequence.lock:
                if sequence.removed:
                    raise ServingError(Code.SEQUENCE_MISSING)
                if self.controls is not None:
                    starting = request.control == Control.SEQUENCE_START
                    one_shot = isinstance(request, ExtendedSequenceRequest) and request.one_shot
                    arrays = self.controls.filled(
                        arrays,
                        starting,
                        ending or one_shot,
                        name if name is not None else sequence.sequence_id,
                    )
                if self.batcher is not None:
                    outputs = self.batcher.step(sequence, arrays, request.control)
                else:
                    outputs = self._step(sequence, arrays, request.control)
        finally:
            # Deviation from OVMS: a failed END still removes the sequence (no zombie).
            self.sequences.release(sequence, remove=ending)
        return outputs, sequence.sequence_id

    def _step(self, sequence: Sequence, arrays: dict[str, np.ndarray], control: Control) -> Outputs:
        """Restore or reset the state, infer, then save or drop the state."""
        slot = self.pool.take()
        try:
            if control == Control.SEQUENCE_START:
                slot.reset_states()
            else:
                try:
                    slot.restore_states(sequence.state or {})
                except (KeyError, RuntimeError) as error:
                    log.error(
                        "Could not restore the state of sequence %d: %s",
                        sequence.sequence_id,
                        error,
                    )
                    raise ServingError(Code.INTERNAL_ERROR) from error
            outputs = _run(slot, arrays)
            if control == Control.SEQUENCE_END:
                slot.reset_states()
            else:
                sequence.saved(slot.save_states())
            return outputs
        finally:
            self.pool.give_back(slot)


def _run(slot: InferSlot, arrays: dict[str, np.ndarray]) -> Outputs:
    """Set inputs and infer, turning OpenVINO failures into OVMS statuses."""
    try:
        slot.set_inputs(arrays)
    except (RuntimeError, ValueError) as error:
        log.error("Could not set inputs: %s", error)
        raise ServingError(Code.INTERNAL_ERROR) from error
    try:
        return slot.infer()
    except RuntimeError as error:
        log.error("Inference failed: %s", error)
        # OpenVINO's CPU plugin can keep the shapes of a failed inference and fail every later
        # one on this request, so the slot gets a fresh request; sequences restore their state.
        slot.renew()
        raise ServingError(Code.OV_INTERNAL_INFERENCE_ERROR) from error
