"""Ours: fill a sequence model's control inputs (Triton's START, END, READY, CORRID) per step.

Checked once at load against the model's inputs (a name that is no input, an element type or a
shape the input cannot take fails the load, naming the input); then every step of a sequence
gets its control arrays added to the inputs the client sent.
"""

from collections.abc import Collection, Mapping

import numpy as np

from helpers.model_server.config.control_inputs import CORRID, END, READY, START, ControlInput
from helpers.model_server.protocol.signature import DYNAMIC, TensorSpec
from helpers.model_server.protocol.status import Code, ServingError

NUMPY_OF = {
    "i32": np.dtype(np.int32),
    "f32": np.dtype(np.float32),
    "boolean": np.dtype(np.bool_),
    "u64": np.dtype(np.uint64),
    "i64": np.dtype(np.int64),
    "u32": np.dtype(np.uint32),
}
CORRID_RANGE = {
    np.dtype(np.uint64): (1, 2**64 - 1),
    np.dtype(np.int64): (1, 2**63 - 1),
    np.dtype(np.uint32): (1, 2**32 - 1),
    np.dtype(np.int32): (1, 2**31 - 1),
}


class ControlInputMismatch(ValueError):
    """The model cannot take a configured control input; the message names it."""


class ControlFiller:
    """The control inputs of one model version, checked against its inputs."""

    def __init__(
        self, controls: tuple[ControlInput, ...], inputs: Mapping[str, TensorSpec]
    ) -> None:
        self.controls = controls
        self._shapes: dict[str, tuple[int, ...]] = {}
        for control in controls:
            spec = inputs.get(control.name)
            if spec is None:
                raise ControlInputMismatch(
                    f"control input {control.name} ({control.kind}) is not an input of the model"
                )
            dtype = NUMPY_OF[control.element]
            if spec.element.numpy != dtype:
                raise ControlInputMismatch(
                    f"control input {control.name} ({control.kind}) is filled with {dtype.name} "
                    f"but the model input takes {spec.element.numpy.name}"
                )
            shape = tuple(1 if d == DYNAMIC else d for d in spec.shape)
            if int(np.prod(shape)) != 1:
                raise ControlInputMismatch(
                    f"control input {control.name} ({control.kind}) needs an input of one "
                    f"element; the model input has shape {list(spec.shape)}"
                )
            self._shapes[control.name] = shape
        self.names = frozenset(self._shapes)

    def refuse_sent(self, sent: Collection[str]) -> None:
        """INVALID_ARGUMENT when the client sent a control input (the server fills them)."""
        for control in self.controls:
            if control.name in sent:
                raise ServingError(
                    Code.CONTROL_INPUT_SENT,
                    f"input {control.name} is the model's {control.kind} control input",
                )

    def check_sequence_id(self, sequence_id: int | str) -> None:
        """INVALID_ARGUMENT when a CORRID input cannot take this id (checked before the step)."""
        for control in self.controls:
            if control.kind == CORRID:
                _corrid(control, NUMPY_OF[control.element], sequence_id)

    def filled(
        self, arrays: dict[str, np.ndarray], start: bool, end: bool, sequence_id: int | str
    ) -> dict[str, np.ndarray]:
        """The client's arrays plus every control input for this step."""
        flags = {START: start, END: end, READY: True}
        filled = dict(arrays)
        for control in self.controls:
            dtype = NUMPY_OF[control.element]
            if control.kind == CORRID:
                value: object = _corrid(control, dtype, sequence_id)
            else:
                assert control.false_true is not None
                value = control.false_true[1 if flags[control.kind] else 0]
            filled[control.name] = np.full(self._shapes[control.name], value, dtype)
        return filled


def _corrid(control: ControlInput, dtype: np.dtype, sequence_id: int | str) -> int:
    """The sequence id as the CORRID input takes it, or INVALID_ARGUMENT when it cannot."""
    low, high = CORRID_RANGE[dtype]
    if isinstance(sequence_id, str) or not low <= sequence_id <= high:
        raise ServingError(
            Code.INVALID_SEQUENCE_PARAMETER,
            f"sequence_id {sequence_id!r} does not fit the model's CORRID input "
            f"{control.name} ({dtype.name})",
        )
    return sequence_id
