"""TFS requests as clients write them (TensorFlow's own make_tensor_proto), and call wrappers.

gRPC: `request` builds a PredictRequest, `predict` / `predict_error` send it. REST: `rest` sends
a JSON body, `summator_rest_inputs` builds the summator's inputs in column format.
"""

import json
import urllib.error
import urllib.request
from typing import Any

import grpc
import numpy as np

from helpers.quiet import native_stderr_silenced
from helpers.serving.protocol import SEQUENCE_CONTROL_INPUT, SEQUENCE_ID, Control
from tests.server.support.dtypes import DT_UINT64

with native_stderr_silenced():
    from tensorflow import make_ndarray, make_tensor_proto
    from tensorflow.core.framework import tensor_pb2
    from tensorflow_serving.apis import (
        get_model_metadata_pb2,
        get_model_status_pb2,
        model_service_pb2_grpc,
        predict_pb2,
        prediction_service_pb2_grpc,
    )

__all__ = [
    "get_model_metadata_pb2",
    "get_model_status_pb2",
    "make_ndarray",
    "make_tensor_proto",
    "model_service_pb2_grpc",
    "predict_pb2",
    "prediction_service_pb2_grpc",
    "tensor_pb2",
]

START, END = Control.SEQUENCE_START, Control.SEQUENCE_END
GRPC_TIMEOUT = 10.0


def request(
    model: str,
    inputs: dict[str, Any] | None = None,
    sequence_id: int | None = None,
    control: int | None = None,
    version: int | None = None,
) -> predict_pb2.PredictRequest:
    """A PredictRequest as the article builds it: make_tensor_proto for everything."""
    req = predict_pb2.PredictRequest()
    req.model_spec.name = model
    if version is not None:
        req.model_spec.version.value = version
    for name, value in (inputs or {}).items():
        proto = value if isinstance(value, tensor_pb2.TensorProto) else make_tensor_proto(value)
        req.inputs[name].CopyFrom(proto)
    if control is not None:
        req.inputs[SEQUENCE_CONTROL_INPUT].CopyFrom(make_tensor_proto([control], dtype="uint32"))
    if sequence_id is not None:
        req.inputs[SEQUENCE_ID].CopyFrom(make_tensor_proto([sequence_id], dtype="uint64"))
    return req


def summator_x(value: float) -> dict[str, np.ndarray]:
    """The summator's input `x` as a [1,1] float32 array."""
    return {"x": np.array([[value]], dtype=np.float32)}


def tensor_with_content(
    dtype: int, shape: tuple[int, ...], content: bytes
) -> tensor_pb2.TensorProto:
    """A TensorProto with any dtype number, dims and tensor_content (no checks at all)."""
    proto = tensor_pb2.TensorProto(dtype=dtype, tensor_content=content)
    for size in shape:
        proto.tensor_shape.dim.add().size = size
    return proto


def predict(
    channel: grpc.Channel, req: predict_pb2.PredictRequest, timeout: float = GRPC_TIMEOUT
) -> predict_pb2.PredictResponse:
    """Send a Predict (raises grpc.RpcError on failure)."""
    return prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(req, timeout)


def predict_error(
    channel: grpc.Channel,
    req: predict_pb2.PredictRequest,
    timeout: float = GRPC_TIMEOUT,
    **options: Any,
) -> tuple[grpc.StatusCode, str]:
    """Send a Predict that must fail (with extra call options, if given); return (code, details)."""
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    try:
        stub.Predict(req, timeout=timeout, **options)
    except grpc.RpcError as error:
        return error.code(), error.details()
    raise AssertionError("the request succeeded")


def output(response: predict_pb2.PredictResponse, name: str = "y") -> np.ndarray:
    """One output as an array."""
    return make_ndarray(response.outputs[name])


def sequence_id_of(response: predict_pb2.PredictResponse) -> int:
    """The `sequence_id` output, checked to be uint64 with shape [1]."""
    proto = response.outputs[SEQUENCE_ID]
    assert proto.dtype == DT_UINT64 and [d.size for d in proto.tensor_shape.dim] == [1]
    assert len(proto.uint64_val) == 1
    return int(proto.uint64_val[0])


def summator_rest_inputs(
    value: float, sequence_id: int | None = None, control: int | None = None
) -> dict[str, list]:
    """The summator's REST `inputs` (column format): x, and the special inputs that are given."""
    inputs: dict[str, list] = {"x": [[value]]}
    if sequence_id is not None:
        inputs[SEQUENCE_ID] = [sequence_id]
    if control is not None:
        inputs[SEQUENCE_CONTROL_INPUT] = [control]
    return inputs


def rest(
    base: str, path: str, body: object = None, raw: bytes | None = None, timeout: float = 10.0
) -> tuple[int, Any]:
    """A REST call; returns (HTTP status, decoded JSON body)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(
        base + path, data=data, method="POST" if data is not None else "GET"
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            assert response.headers["Content-Type"] == "application/json"
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        assert error.headers["Content-Type"] == "application/json"
        return error.code, json.loads(error.read())
