"""Test-side TFS client code, written with TensorFlow's own make_tensor_proto (as clients do)."""

import json
import urllib.error
import urllib.request
from typing import Any

import grpc
import numpy as np

from helpers.quiet import native_stderr_silenced

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

START, END = 1, 2


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
        req.inputs["sequence_control_input"].CopyFrom(make_tensor_proto([control], dtype="uint32"))
    if sequence_id is not None:
        req.inputs["sequence_id"].CopyFrom(make_tensor_proto([sequence_id], dtype="uint64"))
    return req


def x(value: float) -> dict[str, np.ndarray]:
    """The summator's input `x` as a [1,1] float32 array."""
    return {"x": np.array([[value]], dtype=np.float32)}


def predict(channel: grpc.Channel, req: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
    """Send a Predict (raises grpc.RpcError on failure)."""
    return prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(req, 10.0)


def predict_error(channel: grpc.Channel, req: predict_pb2.PredictRequest) -> tuple[Any, str]:
    """Send a Predict that must fail; return (code, details)."""
    try:
        predict(channel, req)
    except grpc.RpcError as error:
        return error.code(), error.details()
    raise AssertionError("the request succeeded")


def output(response: predict_pb2.PredictResponse, name: str = "y") -> np.ndarray:
    """One output as an array."""
    return make_ndarray(response.outputs[name])


def sequence_id_of(response: predict_pb2.PredictResponse) -> int:
    """The `sequence_id` output, checked to be uint64 with shape [1]."""
    proto = response.outputs["sequence_id"]
    assert proto.dtype == 23 and [d.size for d in proto.tensor_shape.dim] == [1]
    assert len(proto.uint64_val) == 1
    return int(proto.uint64_val[0])


def rest(base: str, path: str, body: object = None, raw: bytes | None = None) -> tuple[int, Any]:
    """A REST call; returns (HTTP status, decoded JSON body)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(
        base + path, data=data, method="POST" if data is not None else "GET"
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            assert response.headers["Content-Type"] == "application/json"
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        assert error.headers["Content-Type"] == "application/json"
        return error.code, json.loads(error.read())
