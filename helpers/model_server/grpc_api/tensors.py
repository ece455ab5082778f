"""TensorProto <-> numpy for the gRPC front end, with OVMS's checks and error details.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

import math
from collections.abc import Collection, Mapping, Sized

import numpy as np

from helpers.model_server.core.servable import Servable
from helpers.model_server.protocol.dtypes import BY_NUMPY, VALUE_FIELD_NUMPY, precision_of_tf_dtype
from helpers.model_server.protocol.protos import predict_pb2, tensor_pb2
from helpers.model_server.protocol.signature import TensorSpec
from helpers.model_server.protocol.special_inputs import (
    RawSpecialInput,
    SequenceRequest,
    extract_sequence_request,
)
from helpers.model_server.protocol.validation import (
    check_addressable,
    check_content_size,
    check_precision,
    check_shape,
)
from helpers.model_server.protocol.wire import SEQUENCE_CONTROL_INPUT, SEQUENCE_ID, Control

TensorMap = Mapping[str, tensor_pb2.TensorProto]
_DT_UINT64 = BY_NUMPY[np.dtype(np.uint64)].tf_dtype


def _raw_special(inputs: TensorMap, name: str, field: str) -> RawSpecialInput | None:
    """A special input as sent, or None when absent."""
    if name not in inputs:
        return None
    proto = inputs[name]
    dims = proto.tensor_shape.dim
    shape = tuple(d.size for d in dims) if len(dims) else None
    values = getattr(proto, field)
    return RawSpecialInput(shape, int(values[0]) if len(values) == 1 else None)


def _well_formed(proto: tensor_pb2.TensorProto | None, values: Sized | None) -> bool:
    """True when a special input is absent, or has shape [1] and one value in its field."""
    if proto is None:
        return True
    dims = proto.tensor_shape.dim
    return len(dims) == 1 and dims[0].size == 1 and values is not None and len(values) == 1


def sequence_request_from_protos(inputs: TensorMap) -> tuple[SequenceRequest, int]:
    """The sequence request and the number of special inputs present."""
    sid = inputs.get(SEQUENCE_ID)
    ctl = inputs.get(SEQUENCE_CONTROL_INPUT)
    sid_values = sid.uint64_val if sid is not None else None
    ctl_values = ctl.uint32_val if ctl is not None else None
    if _well_formed(sid, sid_values) and _well_formed(ctl, ctl_values):
        # Fast path: both shapes and fields are right, so only the value checks remain.
        control = int(ctl_values[0]) if ctl_values is not None else 0
        sequence_id = int(sid_values[0]) if sid_values is not None else 0
        if control in (0, 1, 2) and (control == Control.SEQUENCE_START or sequence_id):
            return SequenceRequest(sequence_id, Control(control)), (sid is not None) + (
                ctl is not None
            )
    request = extract_sequence_request(
        _raw_special(inputs, SEQUENCE_ID, "uint64_val"),
        _raw_special(inputs, SEQUENCE_CONTROL_INPUT, "uint32_val"),
    )
    return request, (SEQUENCE_ID in inputs) + (SEQUENCE_CONTROL_INPUT in inputs)


def fast_array(spec: TensorSpec, proto: tensor_pb2.TensorProto) -> np.ndarray | None:
    """The array of a `tensor_content` input that matches a static spec exactly, else None.

    None sends the caller to `array_from_proto`, which runs every check in OVMS's order.
    """
    content = proto.tensor_content
    if proto.dtype != spec.element.tf_dtype or len(content) != spec.byte_size:
        return None
    dims = proto.tensor_shape.dim
    shape = spec.shape
    if len(dims) != len(shape) or any(d.size != s for d, s in zip(dims, shape, strict=True)):
        return None
    return np.frombuffer(content, dtype=spec.element.numpy).reshape(shape)


def array_from_proto(spec: TensorSpec, proto: tensor_pb2.TensorProto) -> np.ndarray:
    """Validate one data input against its spec and return it as an array.

    Deviation from OVMS: the typed `*_val` field is accepted as well as `tensor_content`.
    """
    check_precision(spec, precision_of_tf_dtype(proto.dtype))
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    check_shape(spec, shape)
    dtype = spec.element.numpy
    count = math.prod(shape)
    expected_bytes = count * dtype.itemsize
    content = proto.tensor_content
    if content:
        check_content_size(spec, expected_bytes, len(content))
        return np.frombuffer(content, dtype=dtype).reshape(shape)
    field = spec.element.value_field
    values = getattr(proto, field)
    check_content_size(spec, expected_bytes, len(values) * dtype.itemsize)
    check_addressable(spec, shape)
    # Read at the field's own type, then cast like TensorFlow does (out-of-range values wrap);
    # converting straight to a narrower type raises OverflowError with list-backed protobufs.
    wire = np.array(values, dtype=VALUE_FIELD_NUMPY[field])
    if spec.element.precision == "FP16":
        return wire.astype(np.uint16).view(np.float16).reshape(shape)
    return wire.astype(dtype, copy=False).reshape(shape)


class ProtoInputs:
    """The gRPC wire form of a Predict's inputs: the request's map of TensorProtos."""

    def decode(self, raw: TensorMap, servable: Servable) -> TensorMap:
        """The map itself: each TensorProto is decoded when its input is read."""
        return raw

    def special_inputs(self, decoded: TensorMap) -> tuple[SequenceRequest, int]:
        """The sequence request and the number of special inputs present."""
        return sequence_request_from_protos(decoded)

    def input_names(self, decoded: TensorMap) -> Collection[str]:
        """The names of the tensors sent (the map's keys, without a copy)."""
        return decoded

    def array(self, decoded: TensorMap, spec: TensorSpec) -> np.ndarray:
        """One input's array: `fast_array` when it applies, else every check in OVMS's order."""
        proto = decoded[spec.name]
        array = fast_array(spec, proto)
        return array if array is not None else array_from_proto(spec, proto)


PROTO_INPUTS = ProtoInputs()


def fill_proto(proto: tensor_pb2.TensorProto, array: np.ndarray) -> None:
    """Write an array into an (empty) TensorProto as dtype, shape and tensor_content."""
    proto.dtype = BY_NUMPY[array.dtype].tf_dtype
    dims = proto.tensor_shape.dim
    for size in array.shape:
        dims.add().size = size
    proto.tensor_content = array.tobytes()


def fill_sequence_id(response: predict_pb2.PredictResponse, sequence_id: int) -> None:
    """Add the `sequence_id` output: DT_UINT64, shape [1], value in uint64_val."""
    proto = response.outputs[SEQUENCE_ID]
    proto.dtype = _DT_UINT64
    proto.tensor_shape.dim.add().size = 1
    proto.uint64_val.append(sequence_id)
