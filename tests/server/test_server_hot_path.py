"""Unit tests of TensorProto decoding (no server process): the Predict fast paths agree with the
full checks; typed fields wrap as TensorFlow's do."""

from types import SimpleNamespace

import numpy as np
import openvino as ov
import pytest

from helpers.model_server.core.infer_pool import InferSlot
from helpers.model_server.grpc_api.tensors import (
    array_from_proto,
    fast_array,
    sequence_request_from_protos,
)
from helpers.model_server.protocol.dtypes import BY_NUMPY, BY_TF_DTYPE
from helpers.model_server.protocol.protos import predict_pb2, tensor_pb2
from helpers.model_server.protocol.signature import DYNAMIC, TensorSpec
from helpers.model_server.protocol.special_inputs import SequenceRequest
from helpers.model_server.protocol.status import Code, ServingError
from helpers.models.summator import build_summator
from helpers.serving.protocol import Control
from tests.server.support.dtypes import DT_HALF, DT_UINT8

FP32 = BY_NUMPY[np.dtype(np.float32)]
SPEC = TensorSpec("x", FP32, (1, 3))


def proto(array: np.ndarray, dtype: int = FP32.tf_dtype, shape=None) -> tensor_pb2.TensorProto:
    tensor = tensor_pb2.TensorProto(dtype=dtype, tensor_content=array.tobytes())
    for size in array.shape if shape is None else shape:
        tensor.tensor_shape.dim.add(size=size)
    return tensor


def test_fast_array_matches_the_full_decoder():
    data = np.arange(3, dtype=np.float32).reshape(1, 3)
    fast = fast_array(SPEC, proto(data))
    assert fast is not None
    np.testing.assert_array_equal(fast, array_from_proto(SPEC, proto(data)))


@pytest.mark.parametrize(
    ("tensor", "code"),
    [
        (proto(np.zeros((1, 3), np.float64), dtype=2), Code.INVALID_PRECISION),
        (proto(np.zeros((1, 3), np.float32), shape=(3,)), Code.INVALID_NO_OF_SHAPE_DIMENSIONS),
        (proto(np.zeros((1, 3), np.float32), shape=(2, 3)), Code.INVALID_BATCH_SIZE),
        (proto(np.zeros((1, 3), np.float32), shape=(1, 4)), Code.INVALID_SHAPE),
        (proto(np.zeros((1, 2), np.float32), shape=(1, 3)), Code.INVALID_CONTENT_SIZE),
    ],
)
def test_fast_array_leaves_every_bad_tensor_to_the_full_checks(tensor, code):
    assert fast_array(SPEC, tensor) is None
    with pytest.raises(ServingError) as caught:
        array_from_proto(SPEC, tensor)
    assert caught.value.code == code


def test_fast_array_skips_dynamic_specs():
    dynamic = TensorSpec("x", FP32, (DYNAMIC, 3))
    assert fast_array(dynamic, proto(np.zeros((1, 3), np.float32))) is None


def special_inputs(**fields: tuple[tuple[int, ...], list[int]]) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    for name, (shape, values) in fields.items():
        tensor = request.inputs[name]
        for size in shape:
            tensor.tensor_shape.dim.add(size=size)
        field = tensor.uint64_val if name == "sequence_id" else tensor.uint32_val
        field.extend(values)
    return request


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"sequence_id": ((1,), [7])}, (SequenceRequest(7, Control.NO_CONTROL), 1)),
        (
            {"sequence_id": ((1,), [0]), "sequence_control_input": ((1,), [1])},
            (SequenceRequest(0, Control.SEQUENCE_START), 2),
        ),
        ({"sequence_control_input": ((1,), [2])}, Code.SEQUENCE_ID_NOT_PROVIDED),
        (
            {"sequence_id": ((1,), [7]), "sequence_control_input": ((1,), [3])},
            Code.INVALID_SEQUENCE_CONTROL_INPUT,
        ),
        ({"sequence_id": ((2,), [7])}, Code.INVALID_SHAPE),
        ({"sequence_id": ((1,), [])}, Code.SEQUENCE_ID_BAD_TYPE),
        ({}, Code.SEQUENCE_ID_NOT_PROVIDED),
    ],
)
def test_special_inputs_fast_path_agrees_with_the_full_checks(fields, expected):
    inputs = special_inputs(**fields).inputs
    if isinstance(expected, Code):
        with pytest.raises(ServingError) as caught:
            sequence_request_from_protos(inputs)
        assert caught.value.code == expected
    else:
        assert sequence_request_from_protos(inputs) == expected


def test_a_slot_skips_only_the_restore_of_the_state_it_still_holds():
    compiled = ov.Core().compile_model(build_summator(), "CPU")
    spec = TensorSpec("x", FP32, (1, 1))
    slot = InferSlot(compiled, {"x": spec}, {"y": TensorSpec("y", FP32, (1, 1))})

    def step(value: float) -> float:
        slot.set_inputs({"x": np.full((1, 1), value, np.float32)})
        return float(next(iter(slot.infer().values()))[0, 0])

    slot.reset_states()
    assert step(1.0) == 1.0
    first = slot.save_states()
    slot.reset_states()
    assert step(10.0) == 10.0
    second = slot.save_states()
    slot.restore_states(first)  # another sequence ran here: a real restore
    assert step(1.0) == 2.0
    first = slot.save_states()
    slot.restore_states(first)  # still held: skipped, and the result is the same
    assert step(1.0) == 3.0
    slot.save_states()
    slot.restore_states(second)
    assert step(10.0) == 20.0


def test_typed_fields_wrap_with_list_backed_protobufs():
    """Regression: with the pure-Python protobuf backend (plain lists), an int_val 300 for a U8
    input or a half_val beyond 16 bits raised OverflowError, which became INTERNAL."""

    def proto(dtype: int, field: str, values: list[int]) -> SimpleNamespace:
        shape = SimpleNamespace(dim=[SimpleNamespace(size=len(values))])
        return SimpleNamespace(
            dtype=dtype, tensor_shape=shape, tensor_content=b"", **{field: values}
        )

    u8 = TensorSpec("mask", BY_TF_DTYPE[DT_UINT8], (3,))
    got = array_from_proto(u8, proto(DT_UINT8, "int_val", [300, -1, 256]))
    np.testing.assert_array_equal(got, np.array([300 % 256, 255, 0], np.uint8))
    f16 = TensorSpec("scale", BY_TF_DTYPE[DT_HALF], (2,))
    bits = [0x3C00 + 0x10000, -0x4000]  # 1.0 with bit 16 set; -0x4000 wraps to 0xC000 = -2.0
    got = array_from_proto(f16, proto(DT_HALF, "half_val", bits))
    np.testing.assert_array_equal(got, np.array([1.0, -2.0], np.float16))
