"""TFS REST predict bodies: column ("inputs") and row ("instances") formats, with OVMS's rules.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from helpers.model_server.core.servable import Outputs, Servable
from helpers.model_server.protocol.signature import TensorSpec
from helpers.model_server.protocol.special_inputs import (
    RawSpecialInput,
    SequenceRequest,
    extract_sequence_request,
)
from helpers.model_server.protocol.status import Code, ServingError
from helpers.model_server.protocol.validation import check_shape
from helpers.model_server.protocol.wire import (
    SEQUENCE_CONTROL_INPUT,
    SEQUENCE_ID,
    SPECIAL_INPUT_NAMES,
    UINT32_MAX,
    UINT64_MAX,
)

_ALLOWED_KINDS: dict[str, str] = {"f": "iuf", "i": "iu", "u": "iu", "b": "b"}
_SPECIAL_MAX = {SEQUENCE_ID: UINT64_MAX, SEQUENCE_CONTROL_INPUT: UINT32_MAX}


@dataclass
class ParsedBody:
    """A predict body after parsing: data tensors, raw special inputs, and its format."""

    tensors: dict[str, np.ndarray]
    special: dict[str, RawSpecialInput]
    row_format: bool
    named: bool

    @property
    def names(self) -> list[str]:
        """Every tensor name sent, special inputs included."""
        return [*self.tensors, *self.special]


def _is_uint(value: object, maximum: int) -> bool:
    """A JSON unsigned integer no larger than `maximum` (bools and floats are not)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= maximum


def _special_from_column(name: str, value: object) -> RawSpecialInput:
    """A special input in column format: a flat list of uints, or a scalar (no shape)."""
    maximum = _SPECIAL_MAX[name]
    if isinstance(value, list):
        if not all(_is_uint(v, maximum) for v in value):
            raise ServingError(Code.REST_COULD_NOT_PARSE_INPUT)
        return RawSpecialInput((len(value),), value[0] if len(value) == 1 else None)
    if not _is_uint(value, maximum):
        raise ServingError(Code.REST_COULD_NOT_PARSE_INPUT)
    return RawSpecialInput(None, None)


def _array(value: object, error: Code) -> np.ndarray:
    """A rectangular numeric (or bool) array from nested JSON lists."""
    try:
        array = np.array(value)
    except (ValueError, OverflowError) as failure:
        raise ServingError(error) from failure
    if array.dtype.kind not in "biuf":
        raise ServingError(error)
    return array


def _special_from_array(array: np.ndarray) -> RawSpecialInput:
    """A special input that arrived as an array (row format): shape checks do the rest."""
    shape = array.shape or None
    value = int(array.flat[0]) if array.size == 1 and array.dtype.kind in "iu" else None
    return RawSpecialInput(shape, value)


def parse_predict_body(document: Any, inputs: dict[str, TensorSpec]) -> ParsedBody:
    """Split a decoded JSON body into tensors and special inputs, or raise the REST error."""
    if not isinstance(document, dict):
        raise ServingError(Code.REST_BODY_IS_NOT_AN_OBJECT)
    has_inputs, has_instances = "inputs" in document, "instances" in document
    if has_inputs == has_instances:
        raise ServingError(Code.REST_PREDICT_UNKNOWN_ORDER)
    only_input = next(iter(inputs)) if len(inputs) == 1 else ""
    if has_inputs:
        return _parse_columns(document["inputs"], only_input)
    return _parse_rows(document["instances"], only_input)


def _parse_columns(columns: object, only_input: str) -> ParsedBody:
    """Column format: `{"inputs": {name: value}}`, or an unnamed value for a single input."""
    if not isinstance(columns, dict):
        return ParsedBody(
            {only_input: _array(columns, Code.REST_COULD_NOT_PARSE_INPUT)}, {}, False, False
        )
    tensors: dict[str, np.ndarray] = {}
    special: dict[str, RawSpecialInput] = {}
    for name, value in columns.items():
        if name in SPECIAL_INPUT_NAMES:
            special[name] = _special_from_column(name, value)
        else:
            tensors[name] = _array(value, Code.REST_COULD_NOT_PARSE_INPUT)
    return ParsedBody(tensors, special, False, True)


def _parse_rows(rows: object, only_input: str) -> ParsedBody:
    """Row format: `{"instances": [...]}`, each instance an object of lists or a bare value."""
    if not isinstance(rows, list) or not rows:
        raise ServingError(Code.REST_COULD_NOT_PARSE_INSTANCE)
    if not all(isinstance(row, dict) for row in rows):
        if any(isinstance(row, dict) for row in rows):
            raise ServingError(Code.REST_COULD_NOT_PARSE_INSTANCE)
        return ParsedBody(
            {only_input: _array(rows, Code.REST_COULD_NOT_PARSE_INSTANCE)}, {}, True, False
        )
    keys = set(rows[0])
    if any(set(row) != keys for row in rows):
        raise ServingError(Code.REST_COULD_NOT_PARSE_INSTANCE)
    tensors: dict[str, np.ndarray] = {}
    special: dict[str, RawSpecialInput] = {}
    for name in rows[0]:
        values = [row[name] for row in rows]
        if not all(isinstance(v, list) for v in values):
            raise ServingError(Code.REST_COULD_NOT_PARSE_INSTANCE)
        array = _array(values, Code.REST_COULD_NOT_PARSE_INSTANCE)
        if name in SPECIAL_INPUT_NAMES:
            special[name] = _special_from_array(array)
        else:
            tensors[name] = array
    return ParsedBody(tensors, special, True, True)


def cast_input(spec: TensorSpec, array: np.ndarray) -> np.ndarray:
    """Check the shape, then convert JSON numbers to the input's element type."""
    check_shape(spec, array.shape)
    target = spec.element.numpy
    if array.size and array.dtype.kind not in _ALLOWED_KINDS[target.kind]:
        raise ServingError(Code.REST_COULD_NOT_PARSE_INPUT)
    with np.errstate(over="ignore"):  # 1e308 for an f32 input becomes inf, as a C cast does
        return array.astype(target, copy=False)


class JsonInputs:
    """The REST wire form of a Predict's inputs: a JSON body, parsed once the model is known."""

    def decode(self, raw: bytes, servable: Servable) -> ParsedBody:
        """Parse the JSON, then split it into tensors and special inputs for this model."""
        try:
            document = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
            raise ServingError(Code.JSON_INVALID) from error
        return parse_predict_body(document, servable.inputs)

    def special_inputs(self, decoded: ParsedBody) -> tuple[SequenceRequest, int]:
        """The sequence request and the number of special inputs present."""
        special = decoded.special
        request = extract_sequence_request(
            special.get(SEQUENCE_ID), special.get(SEQUENCE_CONTROL_INPUT)
        )
        return request, len(special)

    def input_names(self, decoded: ParsedBody) -> list[str]:
        """Every tensor name sent, special inputs included."""
        return decoded.names

    def array(self, decoded: ParsedBody, spec: TensorSpec) -> np.ndarray:
        """One input's array, shape-checked and cast to its element type."""
        return cast_input(spec, decoded.tensors[spec.name])


JSON_INPUTS = JsonInputs()


def predict_response(outputs: Outputs, body: ParsedBody, sequence_id: int | None) -> dict[str, Any]:
    """The TFS REST response: `outputs` for column requests, `predictions` for row requests."""
    if body.row_format:
        if len(outputs) == 1:
            return {"predictions": next(iter(outputs.values())).tolist()}
        batch = min(len(a) for a in outputs.values())
        return {
            "predictions": [{n: a[i].tolist() for n, a in outputs.items()} for i in range(batch)]
        }
    named: dict[str, Any] = {name: array.tolist() for name, array in outputs.items()}
    if sequence_id is not None:
        named[SEQUENCE_ID] = [sequence_id]
    if len(named) == 1:
        return {"outputs": next(iter(named.values()))}
    return {"outputs": named}
