"""KServe v2 gRPC messages <-> the wire-neutral dataclasses of `dataplane.kserve`.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

from collections.abc import Sequence

import numpy as np
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer

from helpers.model_server.dataplane.kserve_messages import (
    KServeInput,
    KServeModelMetadata,
    KServeRequest,
    KServeResult,
    KServeTensorMetadata,
    ParameterValue,
)
from helpers.model_server.protocol.dtypes import BY_NUMPY, kserve_datatype
from helpers.model_server.protocol.kserve import grpc_predict_v2_pb2 as pb

INT64_MAX = 2**63 - 1
# The typed contents field of each KServe datatype (FP16 and BYTES: none OVMS reads as numbers).
CONTENTS_FIELD: dict[str, str] = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def parameter_value(parameter: pb.InferParameter) -> ParameterValue | None:
    """The Python value of an InferParameter (None when no choice is set)."""
    choice = parameter.WhichOneof("parameter_choice")
    if choice is None:
        return None
    value: ParameterValue = getattr(parameter, choice)
    return value


def _input(tensor: pb.ModelInferRequest.InferInputTensor) -> KServeInput:
    """One input tensor, its typed values read from the field of its datatype."""
    contents: Sequence[bool | int | float | bytes] | None = None
    if tensor.HasField("contents"):
        field = CONTENTS_FIELD.get(tensor.datatype)
        contents = getattr(tensor.contents, field) if field is not None else ()
    return KServeInput(tensor.name, tensor.datatype, tuple(tensor.shape), contents)


def request_from_proto(message: pb.ModelInferRequest) -> KServeRequest:
    """The wire-neutral request of a ModelInferRequest."""
    parameters: dict[str, ParameterValue] = {}
    for key, parameter in message.parameters.items():
        value = parameter_value(parameter)
        if value is not None:
            parameters[key] = value
    return KServeRequest(
        model_name=message.model_name,
        model_version=message.model_version,
        id=message.id,
        inputs=[_input(tensor) for tensor in message.inputs],
        outputs=[output.name for output in message.outputs],
        parameters=parameters,
        raw_input_contents=message.raw_input_contents,
    )


def response_from_result(result: KServeResult) -> pb.ModelInferResponse:
    """A ModelInferResponse: outputs in raw_output_contents (as OVMS), sequence_id parameter."""
    response = pb.ModelInferResponse(
        model_name=result.model_name, model_version=result.model_version, id=result.id
    )
    for name, array in result.outputs.items():
        output = response.outputs.add()
        output.name = name
        output.datatype = kserve_datatype(BY_NUMPY[array.dtype])
        output.shape.extend(array.shape)
        response.raw_output_contents.append(np.ascontiguousarray(array).tobytes())
    sequence_id = result.sequence_id
    if isinstance(sequence_id, str):
        response.parameters["sequence_id"].string_param = sequence_id
    elif sequence_id is not None and sequence_id > INT64_MAX:
        response.parameters["sequence_id"].uint64_param = sequence_id
    elif sequence_id is not None:
        response.parameters["sequence_id"].int64_param = sequence_id
    return response


def _fill_tensors(
    target: RepeatedCompositeFieldContainer[pb.ModelMetadataResponse.TensorMetadata],
    tensors: Sequence[KServeTensorMetadata],
) -> None:
    """Append TensorMetadata messages to a repeated field."""
    for tensor in tensors:
        item = target.add()
        item.name = tensor.name
        item.datatype = tensor.datatype
        item.shape.extend(tensor.shape)


def metadata_to_proto(metadata: KServeModelMetadata) -> pb.ModelMetadataResponse:
    """A ModelMetadataResponse."""
    response = pb.ModelMetadataResponse(
        name=metadata.name, versions=metadata.versions, platform=metadata.platform
    )
    _fill_tensors(response.inputs, metadata.inputs)
    _fill_tensors(response.outputs, metadata.outputs)
    return response
