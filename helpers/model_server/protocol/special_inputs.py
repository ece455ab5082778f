"""The two reserved inputs of a stateful model, checked in OVMS's order (extractSpecialKeys).

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

from dataclasses import dataclass

from helpers.model_server.protocol.status import Code, ServingError
from helpers.model_server.protocol.wire import SEQUENCE_CONTROL_INPUT, SEQUENCE_ID, Control


@dataclass(frozen=True)
class RawSpecialInput:
    """A special input as sent: its shape (None: no shape at all) and its values in the right
    field (None: the expected `uint64_val` / `uint32_val` field does not hold exactly one value)."""

    shape: tuple[int, ...] | None
    value: int | None


@dataclass(frozen=True)
class SequenceRequest:
    """The sequence part of a request: which sequence and what to do with it."""

    sequence_id: int
    control: Control


def _checked_value(name: str, raw: RawSpecialInput, bad_type: Code) -> int:
    """Apply the shape checks, then the value-field check, to one special input."""
    if raw.shape is None or len(raw.shape) == 0:
        raise ServingError(Code.SPECIAL_INPUT_NO_TENSOR_SHAPE)
    required = f"Required shape for {name} is: (1)"
    if len(raw.shape) > 1:
        raise ServingError(Code.INVALID_NO_OF_SHAPE_DIMENSIONS, required)
    if raw.shape[0] != 1:
        raise ServingError(Code.INVALID_SHAPE, required)
    if raw.value is None:
        raise ServingError(bad_type)
    return raw.value


def extract_sequence_request(
    sequence_id: RawSpecialInput | None, control: RawSpecialInput | None
) -> SequenceRequest:
    """Turn the special inputs into a SequenceRequest or raise the status OVMS gives."""
    seq_id = 0
    if sequence_id is not None:
        seq_id = _checked_value(SEQUENCE_ID, sequence_id, Code.SEQUENCE_ID_BAD_TYPE)
    control_value = 0
    if control is not None:
        control_value = _checked_value(
            SEQUENCE_CONTROL_INPUT, control, Code.SEQUENCE_CONTROL_INPUT_BAD_TYPE
        )
    if control_value not in (0, 1, 2):
        raise ServingError(Code.INVALID_SEQUENCE_CONTROL_INPUT)
    if control_value != Control.SEQUENCE_START and seq_id == 0:
        raise ServingError(Code.SEQUENCE_ID_NOT_PROVIDED)
    return SequenceRequest(seq_id, Control(control_value))
