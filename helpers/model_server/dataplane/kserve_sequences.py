"""Ours: Triton's sequence parameters of a KServe request, read as a stateful model's sequence.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.

With `--kserve_sequence_extension`, a ModelInfer on a stateful model names its sequence with the
request parameters tritonclient sends (`sequence_id`, `sequence_start`, `sequence_end`): an
integer id (int64_param or uint64_param, 1 to 2**64-1) is the sequence id itself; a string id
(string_param, non-empty) names a sequence whose id the server picks. Start and end together
make a one-request sequence.
"""

from collections.abc import Mapping

from helpers.model_server.core.sequences import ExtendedSequenceRequest
from helpers.model_server.protocol.status import Code, ServingError
from helpers.model_server.protocol.wire import UINT64_MAX, Control

SEQUENCE_ID_PARAMETER = "sequence_id"
SEQUENCE_START_PARAMETER = "sequence_start"
SEQUENCE_END_PARAMETER = "sequence_end"


def _type_name(value: object) -> str:
    """The parameter kind a value came as, for error details."""
    return {bool: "bool", int: "int", str: "string", float: "double"}.get(
        type(value), type(value).__name__
    )


def _flag(parameters: Mapping[str, object], name: str) -> bool:
    """A bool parameter (absent: False); any other type is INVALID_SEQUENCE_PARAMETER."""
    value = parameters.get(name, False)
    if type(value) is not bool:
        raise ServingError(
            Code.INVALID_SEQUENCE_PARAMETER,
            f"{name} must be a bool parameter; got {_type_name(value)} {value!r}",
        )
    return value


def _sequence_id(parameters: Mapping[str, object]) -> int | str:
    """The sequence_id parameter: a positive integer within uint64 or a non-empty string."""
    if SEQUENCE_ID_PARAMETER not in parameters:
        raise ServingError(
            Code.SEQUENCE_ID_PARAMETER_MISSING,
            "a stateful model needs the sequence_id parameter (int64, uint64 or string)",
        )
    value = parameters[SEQUENCE_ID_PARAMETER]
    if type(value) is str:
        if not value:
            raise ServingError(
                Code.INVALID_SEQUENCE_PARAMETER, "sequence_id must not be an empty string"
            )
        return value
    if type(value) is not int:
        raise ServingError(
            Code.INVALID_SEQUENCE_PARAMETER,
            f"sequence_id must be an integer or a string parameter; got {_type_name(value)} "
            f"{value!r}",
        )
    if value < 0:
        raise ServingError(
            Code.INVALID_SEQUENCE_PARAMETER, f"sequence_id must not be negative; got {value}"
        )
    if value == 0:
        raise ServingError(Code.INVALID_SEQUENCE_PARAMETER, "sequence_id must not be 0")
    if value > UINT64_MAX:
        raise ServingError(
            Code.INVALID_SEQUENCE_PARAMETER, f"sequence_id must fit in uint64; got {value}"
        )
    return value


def sequence_request_from_parameters(
    parameters: Mapping[str, object],
) -> ExtendedSequenceRequest:
    """The sequence request of a stateful model's ModelInfer, or INVALID_ARGUMENT errors.

    Checked in this order: sequence_start's type, sequence_end's type, then sequence_id
    (missing, type, value). start -> SEQUENCE_START, end -> SEQUENCE_END, neither ->
    NO_CONTROL, both -> a one-shot START that ends with its request.
    """
    start = _flag(parameters, SEQUENCE_START_PARAMETER)
    end = _flag(parameters, SEQUENCE_END_PARAMETER)
    sequence_id = _sequence_id(parameters)
    if start:
        control = Control.SEQUENCE_START
    elif end:
        control = Control.SEQUENCE_END
    else:
        control = Control.NO_CONTROL
    if isinstance(sequence_id, str):
        return ExtendedSequenceRequest(0, control, name=sequence_id, one_shot=start and end)
    return ExtendedSequenceRequest(sequence_id, control, one_shot=start and end)
