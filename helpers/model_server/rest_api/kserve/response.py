"""KServe v2 REST answers as OVMS writes them: infer results, metadata, errors.

Infer: `makeJsonFromPredictResponse` (src/rest_utils.cpp), rapidjson's PrettyWriter with
single-line arrays; keys `model_name`, `id` (if any), `model_version`, `parameters` (ours: the
sequence extension's `sequence_id`, where Triton and OVMS put response parameters), `outputs`;
each output `name`, `shape`, `datatype`, then `data`, or for a binary output
`parameters: {"binary_data_size": S}` with its bytes appended after the JSON, whose length the
`inference-header-content-length` header gives. Model metadata: protobuf's JSON rewritten by
rapidjson's compact Writer (shapes as numbers); server metadata: protobuf's JSON as it is.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from helpers.model_server.dataplane.kserve_messages import (
    KServeModelMetadata,
    KServeResult,
    KServeServerMetadata,
    KServeTensorMetadata,
)
from helpers.model_server.protocol.dtypes import BY_NUMPY, kserve_datatype
from helpers.model_server.rest_api.kserve.json_text import compact, pretty
from helpers.model_server.rest_api.kserve.request import DATATYPE_SIZE
from helpers.model_server.rest_api.kserve.status import RestCode, RestError

_JSON_DATATYPES = {
    "FP32",
    "INT32",
    "INT16",
    "INT8",
    "UINT32",
    "UINT16",
    "UINT8",
    "FP64",
    "INT64",
    "UINT64",
    "BOOL",
}


@dataclass(frozen=True)
class RenderedInfer:
    """An infer answer: the body, and the JSON's length when binary outputs follow it."""

    body: bytes
    json_length: int | None


def datatype_of(array: np.ndarray) -> str:
    """The KServe datatype of an output array ("INVALID" if KServe has none)."""
    element = BY_NUMPY.get(array.dtype.newbyteorder("="))
    return kserve_datatype(element) if element is not None else "INVALID"


def _output(name: str, array: np.ndarray, binary: bool, buffers: list[bytes]) -> dict[str, Any]:
    """One output's JSON (parseOutputs); a binary output's bytes go to `buffers`."""
    datatype = datatype_of(array)
    if datatype not in _JSON_DATATYPES:
        raise RestError(RestCode.REST_UNSUPPORTED_PRECISION, f"Unsupported precision{datatype}")
    entry: dict[str, Any] = {"name": name, "shape": list(array.shape), "datatype": datatype}
    if not binary:
        entry["data"] = array.reshape(-1).tolist()
        return entry
    size = DATATYPE_SIZE[datatype] * math.prod(array.shape)
    buffers.append(np.ascontiguousarray(array, array.dtype.newbyteorder("<")).tobytes())
    if size > 0:
        entry["parameters"] = {"binary_data_size": size}
    return entry


def render_infer(result: KServeResult, binary_outputs: frozenset[str]) -> RenderedInfer:
    """The infer response body: pretty JSON, then the binary outputs in output order."""
    document: dict[str, Any] = {"model_name": result.model_name}
    if result.id:
        document["id"] = result.id
    if result.model_version:
        document["model_version"] = result.model_version
    if result.sequence_id is not None:
        document["parameters"] = {"sequence_id": result.sequence_id}
    if not result.outputs:
        raise RestError(RestCode.REST_PROTO_TO_STRING_ERROR)
    buffers: list[bytes] = []
    document["outputs"] = [
        _output(name, array, name in binary_outputs, buffers)
        for name, array in result.outputs.items()
    ]
    text = pretty(document)
    binary = b"".join(buffers)
    return RenderedInfer(text + binary, len(text) if binary else None)


def _tensors(tensors: tuple[KServeTensorMetadata, ...]) -> list[dict[str, Any]]:
    """TensorMetadata as protobuf's JSON names them, shapes as numbers (convertShapeType)."""
    return [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in tensors]


def render_model_metadata(metadata: KServeModelMetadata) -> bytes:
    """processModelMetadataKFSRequest: ModelMetadataResponse in field order, compact."""
    return compact(
        {
            "name": metadata.name,
            "versions": list(metadata.versions),
            "platform": metadata.platform,
            "inputs": _tensors(metadata.inputs),
            "outputs": _tensors(metadata.outputs),
        }
    )


def render_server_metadata(metadata: KServeServerMetadata) -> bytes:
    """processServerMetadataKFSRequest: protobuf's JSON, an empty `extensions` left out."""
    document: dict[str, Any] = {"name": metadata.name, "version": metadata.version}
    if metadata.extensions:
        document["extensions"] = list(metadata.extensions)
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def render_error(message: str) -> bytes:
    """`{"error":"..."}` as rapidjson's compact Writer writes it."""
    return compact({"error": message})
