"""A small client for stateful models over the TF Serving gRPC API (tensorflow-serving-api).

Taught in notebook 09 and used again in 10 and 11 (and by the benchmarks). `predict_request`
builds the raw PredictRequest the notebook shows first; `StatefulSequence` wraps START /
NO_CONTROL / END, and as a context manager always ends the sequence. Data tensors go in
`tensor_content`, which real OVMS 2026.2 requires as well; the special inputs carry their value
in uint64_val / uint32_val. Every request with a known id also carries it as gRPC metadata
`x-sequence-id`, which a proxy in front of several replicas routes on (notebook 12); a single
server ignores it. Importing this module imports TensorFlow, its native start-up lines silenced.
"""

from types import TracebackType

import grpc
import numpy as np

from helpers.model_server.protocol.dtypes import BY_NUMPY, BY_TF_DTYPE
from helpers.quiet import native_stderr_silenced
from helpers.serving.protocol import (
    SEQUENCE_CONTROL_INPUT,
    SEQUENCE_ID,
    SEQUENCE_ID_HEADER,
    Control,
)

with native_stderr_silenced():
    from tensorflow.core.framework import tensor_pb2
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc


def tensor_proto(array: np.ndarray) -> tensor_pb2.TensorProto:
    """A TensorProto with dtype, shape and the data in tensor_content."""
    array = np.ascontiguousarray(array)
    dtype = BY_NUMPY[array.dtype].tf_dtype
    proto = tensor_pb2.TensorProto(dtype=dtype, tensor_content=array.tobytes())
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    return proto


def special_proto(value: int, dtype: type[np.unsignedinteger]) -> tensor_pb2.TensorProto:
    """A special input of shape [1] with `value` in its typed field (uint64_val or uint32_val)."""
    element = BY_NUMPY[np.dtype(dtype)]
    proto = tensor_pb2.TensorProto(dtype=element.tf_dtype)
    proto.tensor_shape.dim.add(size=1)
    getattr(proto, element.value_field).append(int(value))
    return proto


def to_ndarray(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """Decode a response tensor (tensor_content, float_val or uint64_val)."""
    shape = [d.size for d in proto.tensor_shape.dim]
    element = BY_TF_DTYPE[proto.dtype]
    if proto.tensor_content:
        return np.frombuffer(proto.tensor_content, dtype=element.numpy).reshape(shape).copy()
    values = getattr(proto, element.value_field)
    return np.array(values, dtype=element.numpy).reshape(shape)


def predict_request(
    model_name: str,
    inputs: dict[str, np.ndarray],
    sequence_id: int | None = None,
    control: int | None = None,
) -> predict_pb2.PredictRequest:
    """A PredictRequest with data inputs and, if given, the two special inputs."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    for name, array in inputs.items():
        request.inputs[name].CopyFrom(tensor_proto(array))
    if sequence_id is not None:
        request.inputs[SEQUENCE_ID].CopyFrom(special_proto(sequence_id, np.uint64))
    if control is not None:
        request.inputs[SEQUENCE_CONTROL_INPUT].CopyFrom(special_proto(control, np.uint32))
    return request


def sequence_metadata(sequence_id: int) -> tuple[tuple[str, str], ...]:
    """gRPC metadata `x-sequence-id: <id>` (decimal) for a proxy to route on; none for id 0."""
    return ((SEQUENCE_ID_HEADER, str(sequence_id)),) if sequence_id else ()


class StatefulSequence:
    """One sequence on a stateful model: start(), step()..., end(); `with` always ends it."""

    def __init__(
        self,
        channel: grpc.Channel,
        model_name: str,
        output_name: str,
        sequence_id: int = 0,
        timeout: float = 10.0,
    ) -> None:
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        self.model_name = model_name
        self.output_name = output_name
        self.sequence_id = sequence_id
        self.timeout = timeout
        self.active = False
        self._last_inputs: dict[str, np.ndarray] | None = None

    def _send(self, inputs: dict[str, np.ndarray], control: Control | None) -> np.ndarray:
        """Send one request of this sequence and return the named output."""
        request = predict_request(self.model_name, inputs, self.sequence_id or None, control)
        metadata = sequence_metadata(self.sequence_id)
        response = self.stub.Predict(request, self.timeout, metadata=metadata)
        self.sequence_id = int(response.outputs[SEQUENCE_ID].uint64_val[0])
        self._last_inputs = inputs
        return to_ndarray(response.outputs[self.output_name])

    def start(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """First request (SEQUENCE_START); a server-generated id is kept if none was given."""
        output = self._send(inputs, Control.SEQUENCE_START)
        self.active = True
        return output

    def step(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """A middle request (no control input)."""
        return self._send(inputs, None)

    def end(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Last request (SEQUENCE_END); the server then forgets the sequence."""
        self.active = False
        return self._send(inputs, Control.SEQUENCE_END)

    def __enter__(self) -> "StatefulSequence":
        """Use as a context manager."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """End a sequence left open by repeating its last input (that output is discarded)."""
        if self.active and self._last_inputs is not None:
            try:
                self.end(self._last_inputs)
            except grpc.RpcError:
                if exc is None:
                    raise
