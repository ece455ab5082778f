"""Conformance over gRPC: every catalogue error, the order of checks, and bad input."""

import threading

import grpc
import numpy as np
import pytest

from tests.server.support.requests import (
    END,
    START,
    make_tensor_proto,
    output,
    predict,
    predict_error,
    predict_pb2,
    request,
    summator_x,
    tensor_pb2,
)

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_PROVIDED = "Sequence ID has not been provided in request inputs"


def special(field: str, values: list[int], dims: list[int], dtype: int = 23):
    """A hand-made special-input proto: values in `field`, the given dims."""
    proto = tensor_pb2.TensorProto(dtype=dtype)
    for size in dims:
        proto.tensor_shape.dim.add(size=size)
    getattr(proto, field).extend(values)
    return proto


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({}, NOT_PROVIDED),
        ({"sequenceid": make_tensor_proto([1], dtype="uint64")}, NOT_PROVIDED),
        ({"sequence_control_input": make_tensor_proto([2], dtype="uint32")}, NOT_PROVIDED),
        ({"sequence_id": make_tensor_proto([0], dtype="uint64")}, NOT_PROVIDED),
        (
            {
                "sequence_id": make_tensor_proto([5], dtype="uint64"),
                "sequence_control_input": make_tensor_proto([99], dtype="uint32"),
            },
            "Unexpected value of sequence control input",
        ),
        (
            {"sequence_id": special("uint32_val", [5], [1], dtype=22)},
            "Could not find sequence id in expected tensor proto field uint64_val",
        ),
        (
            {"sequence_id": special("int64_val", [5], [1], dtype=9)},
            "Could not find sequence id in expected tensor proto field uint64_val",
        ),
        (
            {"sequence_id": special("uint64_val", [5, 6], [1])},
            "Could not find sequence id in expected tensor proto field uint64_val",
        ),
        (
            {
                "sequence_id": make_tensor_proto([5], dtype="uint64"),
                "sequence_control_input": special("uint64_val", [1], [1], dtype=23),
            },
            "Could not find sequence control input in expected tensor proto field uint32_val",
        ),
        (
            {"sequence_id": special("uint64_val", [5], [])},
            "Special input proto does not contain tensor shape information",
        ),
        (
            {"sequence_id": special("uint64_val", [5], [1, 1])},
            "Invalid number of shape dimensions - Required shape for sequence_id is: (1)",
        ),
        (
            {"sequence_id": special("uint64_val", [5], [2])},
            "Invalid input shape - Required shape for sequence_id is: (1)",
        ),
        (
            {
                "sequence_id": make_tensor_proto([5], dtype="uint64"),
                "sequence_control_input": special("uint32_val", [1], [1, 1], dtype=22),
            },
            "Invalid number of shape dimensions - "
            "Required shape for sequence_control_input is: (1)",
        ),
        (
            {
                "sequence_id": make_tensor_proto([5], dtype="uint64"),
                "sequence_control_input": special("uint32_val", [1], [3], dtype=22),
            },
            "Invalid input shape - Required shape for sequence_control_input is: (1)",
        ),
    ],
)
def test_special_input_errors_come_before_data_validation(channel, inputs, message):
    """The data input is deliberately wrong (int64 [3]): special inputs are checked first."""
    bad_data = make_tensor_proto(np.array([1, 2, 3], np.int64))
    code, details = predict_error(channel, request("summator", {"x": bad_data, **inputs}))
    assert (code, details) == (INVALID, message)


def test_int64_dtype_with_uint64_val_is_accepted(channel):
    req = request("summator", summator_x(2.0), None, START)
    req.inputs["sequence_id"].CopyFrom(special("uint64_val", [9001], [1], dtype=9))
    response = predict(channel, req)
    assert response.outputs["sequence_id"].uint64_val[0] == 9001
    predict(channel, request("summator", summator_x(0.0), 9001, END))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"x": np.array([[1]], np.int32)},
            "Invalid input precision - Expected: FP32; Actual: I32; input name: x",
        ),
        (
            {"x": np.array([[1.0, 2.0]], np.float32)},
            "Invalid input shape - Expected: (1,1); Actual: (1,2); input name: x",
        ),
        (
            {"x": np.array([1.0], np.float32)},
            "Invalid number of shape dimensions - Expected: (1,1); Actual: (1); input name: x",
        ),
        (
            {"x": np.array([[1.0], [2.0]], np.float32)},
            "Invalid input batch size - Expected: 1; Actual: 2; input name: x",
        ),
        (
            {"z": np.array([[1.0]], np.float32)},
            "Missing input with specific name - Required input: x",
        ),
        (
            {"x": np.array([[1.0]], np.float32), "extra": np.array([[1.0]], np.float32)},
            "Invalid number of inputs - Expected: 3; Actual: 4",
        ),
        ({}, "Invalid number of inputs - Expected: 3; Actual: 2"),
    ],
)
def test_data_validation_errors(channel, data, message):
    code, details = predict_error(channel, request("summator", data, 9100, START))
    assert (code, details) == (INVALID, message)


@pytest.mark.parametrize(
    ("content", "actual_bytes"), [(b"", 0), (b"\xff\x00garbage", 9)], ids=["empty", "garbage"]
)
def test_content_of_the_wrong_size_is_refused(channel, content, actual_bytes):
    proto = tensor_pb2.TensorProto(dtype=1, tensor_content=content)
    proto.tensor_shape.dim.add(size=1)
    proto.tensor_shape.dim.add(size=1)
    code, details = predict_error(channel, request("summator", {"x": proto}, 9101, START))
    expected = f"Expected: 4 bytes; Actual: {actual_bytes} bytes; input name: x"
    assert (code, details) == (INVALID, f"Invalid content size of tensor proto - {expected}")


def test_failed_validation_does_not_touch_the_sequence(channel):
    predict_error(channel, request("summator", {"x": np.array([[1]], np.int32)}, 9200, START))
    code, _ = predict_error(channel, request("summator", summator_x(1.0), 9200))
    assert code == grpc.StatusCode.NOT_FOUND
    predict(channel, request("summator", summator_x(5.0), 9200, START))
    predict_error(channel, request("summator", {"x": np.array([[1]], np.int32)}, 9200, END))
    assert output(predict(channel, request("summator", summator_x(1.0), 9200, END)))[0, 0] == 6.0


def test_garbage_bytes_instead_of_a_request_leave_the_server_up(channel, main_server):
    raw = channel.unary_unary("/tensorflow.serving.PredictionService/Predict")
    with pytest.raises(grpc.RpcError) as caught:
        raw(b"\xff\xff\xff\xff garbage", timeout=10)
    assert caught.value.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)
    assert main_server.is_running()


def test_huge_payload_is_refused_and_server_stays_up(channel, main_server):
    huge = tensor_pb2.TensorProto(dtype=1, tensor_content=bytes(80 * 1024 * 1024))
    huge.tensor_shape.dim.add(size=1)
    huge.tensor_shape.dim.add(size=20 * 1024 * 1024)
    code, _ = predict_error(channel, request("summator", {"x": huge}, 9300, START))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    big = tensor_pb2.TensorProto(dtype=1, tensor_content=bytes(8 * 1024 * 1024))
    big.tensor_shape.dim.add(size=1)
    big.tensor_shape.dim.add(size=2 * 1024 * 1024)
    code, details = predict_error(channel, request("summator", {"x": big}, 9300, START))
    assert code == INVALID and details.startswith("Invalid input shape")
    assert main_server.is_running()


def test_bad_input_leaves_other_sequences_exact(channel):
    """A sequence running while other threads send junk still gets exact running sums."""
    values = np.arange(1, 41, dtype=np.float32)
    stop = threading.Event()

    def junk():
        bad = [
            request("summator", {"x": np.array([[1]], np.int32)}, 9400, START),
            request("summator", summator_x(1.0), 9401, None),
            request("summator", {}, 9400, 77),
            predict_pb2.PredictRequest(),
        ]
        while not stop.is_set():
            for req in bad:
                predict_error(channel, req)

    thread = threading.Thread(target=junk)
    thread.start()
    try:
        got = []
        for i, value in enumerate(values):
            control = START if i == 0 else END if i == len(values) - 1 else None
            got.append(
                float(
                    output(predict(channel, request("summator", summator_x(value), 9402, control)))[
                        0, 0
                    ]
                )
            )
    finally:
        stop.set()
        thread.join()
    assert got == np.cumsum(values).tolist()
