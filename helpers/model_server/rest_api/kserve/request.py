"""A KServe v2 REST infer body (JSON, binary tensor data extension) as a KServeRequest.

OVMS's steps and error statuses, in its order: the Inference-Header-Content-Length header
(`parseInferenceHeaderContentLength`), the JSON (`KFSRestParser::parse`, src/rest_parser.cpp),
then the binary buffers (`handleBinaryInputs`, src/http_rest_api_handler.cpp). Its quirks are
kept: a parameter number must fit in int32; INT64 and UINT64 data must fit in int32 and uint32;
FP64 data goes through a float; each `outputs` entry replaces the previous one, so only the last
one can ask for binary data. Ours: the sequence extension's parameters (`sequence_id`,
`sequence_start`, `sequence_end`) keep any JSON scalar as it is, for the data plane to judge.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from helpers.model_server.dataplane.kserve_messages import (
    KServeInput,
    KServeRequest,
    ParameterValue,
)
from helpers.model_server.dataplane.kserve_sequences import (
    SEQUENCE_END_PARAMETER,
    SEQUENCE_ID_PARAMETER,
    SEQUENCE_START_PARAMETER,
)
from helpers.model_server.protocol.status import Code, ServingError
from helpers.model_server.rest_api.kserve.json_text import (
    JsonObject,
    JsonParseError,
    JsonTooDeep,
    parse_json,
)
from helpers.model_server.rest_api.kserve.status import RestCode, RestError

HEADER_LENGTH = "inference-header-content-length"
INT32_MIN, INT32_MAX, UINT32_MAX = -(2**31), 2**31 - 1, 2**32 - 1
SIZE_T_MAX = 2**64 - 1
_SEQUENCE_PARAMETERS = {SEQUENCE_ID_PARAMETER, SEQUENCE_START_PARAMETER, SEQUENCE_END_PARAMETER}
# KFSDataTypeSize (src/kfs_frontend/kfs_utils.cpp); other datatypes have size 0.
DATATYPE_SIZE = {
    "BOOL": 1,
    "UINT8": 1,
    "UINT16": 2,
    "UINT32": 4,
    "UINT64": 8,
    "INT8": 1,
    "INT16": 2,
    "INT32": 4,
    "INT64": 8,
    "FP16": 2,
    "FP32": 4,
    "FP64": 8,
    "BYTES": 1,
}


def _is_int(value: object) -> bool:
    """rapidjson's IsInt: an integer that fits in int32."""
    return type(value) is int and INT32_MIN <= value <= INT32_MAX


def _is_uint(value: object) -> bool:
    """rapidjson's IsUint: an integer that fits in uint32."""
    return type(value) is int and 0 <= value <= UINT32_MAX


def _is_number(value: object) -> bool:
    """rapidjson's IsNumber: an integer or a double (not a bool)."""
    return type(value) is int or type(value) is float


# parseData's check of each datatype's values (src/rest_parser.cpp, HANDLE_VALUE).
_VALUE_CHECKS: dict[str, Callable[[object], bool]] = {
    "FP32": _is_number,
    "INT64": _is_int,
    "INT32": _is_int,
    "INT16": _is_int,
    "INT8": _is_int,
    "UINT64": _is_uint,
    "UINT32": _is_uint,
    "UINT16": _is_uint,
    "UINT8": _is_uint,
    "FP64": _is_number,
    "BOOL": lambda value: type(value) is bool,
    "BYTES": lambda value: type(value) is str,
}


@dataclass(frozen=True)
class DecodedInfer:
    """An infer body decoded: the data plane's request and the outputs to send as binary."""

    request: KServeRequest
    binary_outputs: frozenset[str]


def header_length(headers: Mapping[str, str]) -> int | None:
    """Inference-Header-Content-Length (any case) as std::stoi reads it, or None if absent."""
    value = None
    for name, text in headers.items():
        if name.lower() == HEADER_LENGTH:
            value = _stoi32(text)
            if value is None or value < 0:
                raise RestError(RestCode.REST_INFERENCE_HEADER_CONTENT_LENGTH_INVALID)
    return value


def _stoi32(text: str) -> int | None:
    """OVMS's stoi32: leading blanks, a sign, digits, the whole text, within int32."""
    stripped = text.lstrip(" \t\n\v\f\r")
    digits = stripped[1:] if stripped[:1] in ("+", "-") else stripped
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    value = int(stripped)
    return value if INT32_MIN <= value <= INT32_MAX else None


def _parameters(node: object, keep_sequence: bool = False) -> dict[str, ParameterValue]:
    """OVMS's PARSE_PARAMETER: string, bool or int32 values; later duplicates win."""
    if not isinstance(node, JsonObject):
        raise RestError(RestCode.REST_COULD_NOT_PARSE_PARAMETERS)
    parameters: dict[str, ParameterValue] = {}
    for name, value in node.pairs:
        if type(value) is str or type(value) is bool or _is_int(value):
            parameters[name] = value
        elif keep_sequence and name in _SEQUENCE_PARAMETERS and _is_number(value):
            parameters[name] = value  # ours: the sequence extension judges it
        else:
            raise RestError(RestCode.REST_COULD_NOT_PARSE_PARAMETERS)
    return parameters


def _flatten(node: list[Any], check: Callable[[object], bool], out: list[Any]) -> None:
    """parseData: nested lists flattened in order; a value of the wrong kind is refused."""
    for value in node:
        if type(value) is list:
            _flatten(value, check, out)
        elif check(value):
            out.append(value)
        else:
            raise ServingError(Code.REST_COULD_NOT_PARSE_INPUT)


def _contents(datatype: str, data: list[Any]) -> list[Any]:
    """The typed contents of an input's `data`, converted as rapidjson's getters do."""
    check = _VALUE_CHECKS.get(datatype)
    if check is None:
        raise RestError(RestCode.REST_UNSUPPORTED_PRECISION)
    values: list[Any] = []
    _flatten(data, check, values)
    if datatype == "FP64" and values:  # GetFloat: through a float, as OVMS does
        with np.errstate(over="ignore"):
            return np.asarray(values, np.float64).astype(np.float32).astype(np.float64).tolist()
    if datatype == "BYTES":
        return [value.encode("utf-8", "surrogateescape") for value in values]
    return values


@dataclass
class _Input:
    """One input as parsed, before its binary data is attached."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    parameters: dict[str, ParameterValue]
    contents: list[Any] | None


def _parse_input(node: object, only_input: bool) -> _Input:
    """KFSRestParser::parseInput: name, shape, datatype, parameters, then data."""
    if not isinstance(node, JsonObject):
        raise ServingError(Code.REST_COULD_NOT_PARSE_INPUT)
    name, shape, datatype = node.get("name"), node.get("shape"), node.get("datatype")
    if type(name) is not str or type(shape) is not list:
        raise ServingError(Code.REST_COULD_NOT_PARSE_INPUT)
    if not all(_is_int(dim) and dim >= 0 for dim in shape):
        raise ServingError(Code.REST_COULD_NOT_PARSE_INPUT)
    if type(datatype) is not str:
        raise ServingError(Code.REST_COULD_NOT_PARSE_INPUT)
    parameters = _parameters(node["parameters"]) if "parameters" in node else {}
    parsed = _Input(name, datatype, tuple(shape), parameters, None)
    if "data" in node:
        data = node["data"]
        if type(data) is not list or datatype in ("FP16", "BF16"):
            raise ServingError(Code.REST_COULD_NOT_PARSE_INPUT)
        parsed.contents = _contents(datatype, data)
    elif (
        "binary_data_size" not in parameters
        and datatype == "BYTES"
        and (not only_input or parsed.shape != (1,))
    ):
        raise ServingError(Code.REST_COULD_NOT_PARSE_INPUT)
    return parsed


def _requested_outputs(node: object) -> tuple[str, dict[str, ParameterValue]] | None:
    """KFSRestParser::parseOutputs: every entry checked, only the last one kept (as OVMS)."""
    if type(node) is not list:
        raise ServingError(Code.REST_COULD_NOT_PARSE_INPUT)
    last = None
    for output in node:
        if not isinstance(output, JsonObject) or type(output.get("name")) is not str:
            raise RestError(RestCode.REST_COULD_NOT_PARSE_OUTPUT)
        parameters = _parameters(output["parameters"]) if "parameters" in output else {}
        last = (output["name"], parameters)
    return last


def _binary_size(tensor: _Input, only_input: bool, buffer_size: int) -> int | None:
    """The size of an input's binary data, or None when its data is in the JSON."""
    if "binary_data_size" in tensor.parameters:
        if tensor.contents:
            raise RestError(RestCode.REST_CONTENTS_FIELD_NOT_EMPTY)
        size = tensor.parameters["binary_data_size"]
        if type(size) is not int or size < 0:
            raise RestError(RestCode.REST_BINARY_DATA_SIZE_PARAMETER_INVALID)
        return size
    if tensor.contents:
        return None
    if only_input and tensor.datatype == "BYTES":
        return buffer_size
    count = _element_count(tensor.shape)
    size = DATATYPE_SIZE.get(tensor.datatype, 0) * (count or 0)
    if count is None or size > SIZE_T_MAX:
        raise ServingError(
            Code.INVALID_CONTENT_SIZE, "Binary input shape dimensions overflow size_t"
        )
    return size


def _element_count(shape: tuple[int, ...]) -> int | None:
    """computeExpectedElementCount: dims multiplied until a 0; None once past size_t."""
    count = 1
    for dim in shape:
        if dim == 0:
            return 0
        count *= dim
        if count > SIZE_T_MAX:
            return None
    return count


def _binary_buffers(inputs: list[_Input], binary: bytes) -> list[bytes]:
    """handleBinaryInputs: each input without JSON data takes the next bytes of the buffer."""
    buffers: list[bytes] = []
    offset = 0
    for tensor in inputs:
        size = _binary_size(tensor, len(inputs) == 1, len(binary))
        if size is None:
            continue
        if size > len(binary) - offset:
            raise RestError(RestCode.REST_BINARY_BUFFER_EXCEEDED)
        buffers.append(binary[offset : offset + size])
        offset += size
    return buffers


def _binary_outputs(
    parameters: Mapping[str, ParameterValue],
    requested: tuple[str, dict[str, ParameterValue]] | None,
) -> frozenset[str]:
    """getRequestedBinaryOutputsNames: the requested output, if binary_data(_output) says so."""
    if requested is None:
        return frozenset()
    default = parameters.get("binary_data_output")
    binary = default if type(default) is bool else False
    name, output_parameters = requested
    asked = output_parameters.get("binary_data")
    if type(asked) is bool:
        binary = asked
    return frozenset({name}) if binary else frozenset()


def _document(body: bytes, json_length: int | None) -> JsonObject:
    """The JSON part of the body as an object, or OVMS's error."""
    end = len(body) if json_length is None else json_length
    if end > len(body):
        raise RestError(RestCode.REST_INFERENCE_HEADER_CONTENT_LENGTH_EXCEEDED)
    try:
        document = parse_json(body[:end])
    except JsonParseError as error:
        raise ServingError(Code.JSON_INVALID, error.details) from error
    except JsonTooDeep as error:
        raise RestError(RestCode.JSON_NESTING_DEPTH_EXCEEDED) from error
    if not isinstance(document, JsonObject):
        raise ServingError(Code.REST_BODY_IS_NOT_AN_OBJECT)
    return document


def decode_infer(
    model_name: str, model_version: str, body: bytes, json_length: int | None
) -> DecodedInfer:
    """prepareGrpcRequest: the body (JSON, then binary buffers) as a KServeRequest."""
    document = _document(body, json_length)
    request_id = document.get("id", "")
    if "id" in document and type(request_id) is not str:
        raise ServingError(Code.REST_COULD_NOT_PARSE_INPUT)
    parameters = _parameters(document["parameters"], True) if "parameters" in document else {}
    requested = _requested_outputs(document["outputs"]) if "outputs" in document else None
    nodes = document.get("inputs")
    if nodes is None and "inputs" not in document:
        raise RestError(RestCode.REST_NO_INPUTS_FOUND)
    if type(nodes) is not list:
        raise ServingError(Code.REST_COULD_NOT_PARSE_INPUT)
    if not nodes:
        raise RestError(RestCode.REST_NO_INPUTS_FOUND)
    inputs = [_parse_input(node, len(nodes) == 1) for node in nodes]
    end = len(body) if json_length is None else json_length
    raw = _binary_buffers(inputs, body[end:])
    request = KServeRequest(
        model_name=model_name,
        model_version=model_version,
        id=request_id,
        inputs=tuple(KServeInput(t.name, t.datatype, t.shape, t.contents or None) for t in inputs),
        outputs=(requested[0],) if requested else (),
        parameters=parameters,
        raw_input_contents=tuple(raw),
    )
    return DecodedInfer(request, _binary_outputs(parameters, requested))
