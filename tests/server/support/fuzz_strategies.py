"""Hypothesis strategies for fuzzing the model server: PredictRequests, raw bytes, REST bodies."""

import json
import math
from typing import Any

import numpy as np
from hypothesis import strategies as st

from helpers.serving.client import predict_request, special_proto
from helpers.serving.protocol import SEQUENCE_CONTROL_INPUT, SEQUENCE_ID, UINT32_MAX, UINT64_MAX
from tests.server.support.dtypes import DT_FLOAT, DT_HALF, DT_INT32, DT_UINT8
from tests.server.support.requests import (
    predict_pb2,
    summator_rest_inputs,
    summator_x,
    tensor_pb2,
    tensor_with_content,
)

# Served names. The fuzz target and the side sequences use different names (one sequence
# manager each), so fuzz STARTs can never exhaust the side sequences' limit.
FUZZ_MODEL = "fuzz_summator"
SIDE_MODEL = "side_summator"
DYNAMIC_MODEL = "dyn"
DUMMY_MODEL = "dummy"
SERVED = (FUZZ_MODEL, DYNAMIC_MODEL, DUMMY_MODEL)
# Sequences the fuzz module starts on FUZZ_MODEL first, so that mutated NO_CONTROL/END requests
# often reach a live sequence.
POOL_IDS = range(1, 33)
INPUT_NAMES = ("x", "b", "ids", "mask", "scale", SEQUENCE_ID, SEQUENCE_CONTROL_INPUT)
PATH_LIKE = ("../summator", "/etc/passwd", "..", ".", "summator/../dummy", "", " ", "dummy\x00")

INT64_MAX = 2**63 - 1
HUGE_DIMS = (2**31, 2**32, 2**40, 2**62, INT64_MAX, -1, -(2**63), 0)
VALUE_FIELDS = (
    "float_val",
    "double_val",
    "int_val",
    "int64_val",
    "uint32_val",
    "uint64_val",
    "half_val",
    "bool_val",
    "string_val",
)


# --- scalar building blocks ---------------------------------------------------------------

FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=32) | st.sampled_from(
    [math.nan, math.inf, -math.inf, 3.4e38, -0.0, 1e-45]
)
DOUBLES = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1e308, -1e308])
INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), INT64_MAX)
UINT32 = st.integers(0, UINT32_MAX)
UINT64 = st.integers(0, UINT64_MAX) | st.sampled_from([0, 1, 2, UINT64_MAX, 2**63])
# A dimension: small, edge, or any int64.
DIMS = st.integers(-3, 4) | st.sampled_from(HUGE_DIMS) | INT64
# Any DataType number: known ones, unknown ones (proto3 enums are open), and odd ones.
DTYPES = st.integers(0, 30) | st.sampled_from([100, 101, 119, 2**31 - 1, -1, -(2**31)])

_FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "float_val": FLOATS,
    "double_val": DOUBLES,
    "int_val": INT32,
    "int64_val": INT64,
    "uint32_val": UINT32,
    "uint64_val": UINT64,
    "half_val": INT32,
    "bool_val": st.booleans(),
    "string_val": st.binary(max_size=8),
}


@st.composite
def names_of_models(draw: st.DrawFn) -> str:
    """Mostly (6 in 10) served names; else path-like names, near misses and random text."""
    pick = draw(st.integers(0, 9))
    if pick < 6:
        return draw(st.sampled_from(SERVED))
    if pick == 6:
        return draw(st.sampled_from(PATH_LIKE))
    if pick == 7:
        return draw(st.sampled_from(["Fuzz_summator", "fuzz_summator ", "summator", "dyn\n"]))
    return draw(st.text(max_size=30))


@st.composite
def versions(draw: st.DrawFn) -> int | None:
    """Mostly (7 in 10) no version; else 0, 1, 2, or any int64 (negative included)."""
    pick = draw(st.integers(0, 9))
    if pick < 7:
        return None
    return draw(st.sampled_from([0, 1, 2, INT64_MAX]) if pick < 9 else INT64)


@st.composite
def tensor_protos(draw: st.DrawFn) -> tensor_pb2.TensorProto:
    """A TensorProto with random dtype, dims (or unknown rank) and value fields."""
    proto = tensor_pb2.TensorProto()
    proto.dtype = draw(DTYPES)
    for size in draw(st.lists(DIMS, max_size=10)):
        proto.tensor_shape.dim.add().size = size
    proto.tensor_shape.unknown_rank = draw(st.booleans())
    if draw(st.booleans()):
        proto.tensor_content = draw(st.binary(max_size=64))
    for field in draw(st.lists(st.sampled_from(VALUE_FIELDS), max_size=3, unique=True)):
        getattr(proto, field).extend(draw(st.lists(_FIELD_VALUES[field], max_size=12)))
    return proto


def input_names() -> st.SearchStrategy[str]:
    """Input map keys: real input names, the special names, and random text."""
    return st.sampled_from(INPUT_NAMES) | st.text(max_size=12)


@st.composite
def noise_requests(draw: st.DrawFn) -> predict_pb2.PredictRequest:
    """A PredictRequest built from random parts."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = draw(names_of_models())
    version = draw(versions())
    if version is not None:
        request.model_spec.version.value = version
    if draw(st.booleans()):
        request.model_spec.signature_name = draw(st.text(max_size=10))
    for name, proto in draw(st.dictionaries(input_names(), tensor_protos(), max_size=5)).items():
        request.inputs[name].CopyFrom(proto)
    return request


# --- valid requests and single mutations ------------------------------------------------------


def dynamic_request(
    ids: tensor_pb2.TensorProto,
    mask: tensor_pb2.TensorProto,
    scale: tensor_pb2.TensorProto | None = None,
) -> predict_pb2.PredictRequest:
    """A request to `dyn` with these tensors (`scale` by default f16 [1] zero)."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = DYNAMIC_MODEL
    request.inputs["ids"].CopyFrom(ids)
    request.inputs["mask"].CopyFrom(mask)
    if scale is None:
        scale = tensor_with_content(DT_HALF, (1,), bytes(2))
    request.inputs["scale"].CopyFrom(scale)
    return request


@st.composite
def valid_requests(draw: st.DrawFn) -> predict_pb2.PredictRequest:
    """A valid request to the fuzz summator (START/NO_CONTROL/END), `dyn` or `dummy`."""
    kind = draw(st.sampled_from(["summator", "dyn", "dummy"]))
    if kind == "summator":
        control = draw(st.sampled_from([None, 0, 1, 2]))
        pool = st.sampled_from(POOL_IDS)
        sequence_id = draw(st.one_of(pool, pool, pool, st.integers(0, 2**20), UINT64))
        x = draw(st.floats(-1e6, 1e6, width=32))
        return predict_request(FUZZ_MODEL, summator_x(x), sequence_id, control)
    if kind == "dummy":
        values = draw(st.lists(st.floats(-1e6, 1e6, width=32), min_size=10, max_size=10))
        return predict_request(DUMMY_MODEL, {"b": np.array([values], np.float32)})
    batch = draw(st.integers(1, 4))
    ids = draw(st.lists(INT32, min_size=3 * batch, max_size=3 * batch))
    mask = draw(st.binary(min_size=3 * batch, max_size=3 * batch))
    scale = np.array([draw(st.floats(-100, 100, width=16))], np.float16)
    return dynamic_request(
        tensor_with_content(DT_INT32, (batch, 3), np.array(ids, np.int32).tobytes()),
        tensor_with_content(DT_UINT8, (batch, 3), mask),
        tensor_with_content(DT_HALF, (1,), scale.tobytes()),
    )


# dtype -> (typed value field, item size) as TensorFlow's TensorProto carries them.
TYPED_FIELDS = {DT_FLOAT: ("float_val", 4), DT_INT32: ("int_val", 4), DT_UINT8: ("int_val", 1)}
TYPED_FIELDS[DT_HALF] = ("half_val", 2)
TENSOR_CHANGES = (
    "dtype",
    "dims",
    "add_dim",
    "drop_dims",
    "content",
    "field",
    "typed",
    "batch",
    "empty",
    "unknown_rank",
    "nan",
)


def _mutate_tensor(draw: st.DrawFn, proto: tensor_pb2.TensorProto) -> None:
    """Change one thing in one tensor."""
    change = draw(st.sampled_from(TENSOR_CHANGES))
    dims = proto.tensor_shape.dim
    field, itemsize = TYPED_FIELDS.get(proto.dtype, ("float_val", 4))
    if change == "dtype":
        proto.dtype = draw(DTYPES)
    elif change == "dims" and dims:
        dims[draw(st.integers(0, len(dims) - 1))].size = draw(DIMS)
    elif change == "add_dim":
        dims.add().size = draw(DIMS)
    elif change == "drop_dims":
        proto.tensor_shape.ClearField("dim")
    elif change == "content":
        content = proto.tensor_content
        proto.tensor_content = draw(
            st.sampled_from([content[:-1], content + b"\x00", b"", content * 2])
            | st.binary(max_size=32)
        )
    elif change == "field":
        proto.ClearField("tensor_content")
        field = draw(st.sampled_from(VALUE_FIELDS))
        getattr(proto, field).extend(draw(st.lists(_FIELD_VALUES[field], max_size=6)))
    elif change == "typed":  # the same count of values, in the dtype's typed field
        count = len(proto.tensor_content) // itemsize
        proto.ClearField("tensor_content")
        same_count = st.lists(_FIELD_VALUES[field], min_size=count, max_size=count)
        getattr(proto, field).extend(draw(same_count))
    elif change == "batch" and dims:  # another batch size (0 included), content to match
        dims[0].size = draw(st.integers(0, 5))
        count = math.prod(d.size for d in dims)
        proto.tensor_content = draw(st.binary(min_size=count * itemsize, max_size=count * itemsize))
    elif change == "empty":  # no elements: a dim 0 beside any other dims (huge ones included)
        proto.ClearField("tensor_content")
        proto.tensor_shape.ClearField("dim")
        sizes = draw(st.lists(DIMS, min_size=1, max_size=3))
        sizes.insert(draw(st.integers(0, len(sizes))), 0)
        for size in sizes:
            dims.add().size = size
    elif change == "unknown_rank":
        proto.tensor_shape.unknown_rank = True
    elif proto.dtype == DT_FLOAT and proto.tensor_content:
        count = len(proto.tensor_content) // 4
        special_values = st.sampled_from([np.nan, np.inf, -np.inf, 3.4e38, 1e-45])
        values = draw(st.lists(special_values, min_size=count, max_size=count))
        proto.tensor_content = np.array(values, np.float32).tobytes()


def _mutated_special(draw: st.DrawFn) -> tuple[str, tensor_pb2.TensorProto]:
    """A special input with an odd value, field or shape."""
    name = draw(st.sampled_from([SEQUENCE_ID, SEQUENCE_CONTROL_INPUT]))
    right = "uint64_val" if name == SEQUENCE_ID else "uint32_val"
    dtype = np.uint64 if name == SEQUENCE_ID else np.uint32
    if draw(st.booleans()):  # the right field and shape, any value
        return name, special_proto(draw(UINT64 if name == SEQUENCE_ID else UINT32), dtype)
    proto = special_proto(0, dtype)
    proto.ClearField(right)
    field = draw(st.sampled_from(VALUE_FIELDS))
    getattr(proto, field).extend(draw(st.lists(_FIELD_VALUES[field], max_size=3)))
    if draw(st.booleans()):
        proto.tensor_shape.dim[0].size = draw(DIMS)
    if draw(st.booleans()):
        proto.tensor_shape.dim.add().size = draw(DIMS)
    return name, proto


@st.composite
def mutated_requests(draw: st.DrawFn) -> predict_pb2.PredictRequest:
    """A valid request with one thing changed (these find more than pure noise)."""
    request = draw(valid_requests())
    pick = draw(st.integers(0, 9))
    names = sorted(request.inputs)
    if pick < 5:
        _mutate_tensor(draw, request.inputs[draw(st.sampled_from(names))])
    elif pick < 7:
        name, proto = _mutated_special(draw)
        request.inputs[name].CopyFrom(proto)
    elif pick == 7:
        if draw(st.booleans()):
            del request.inputs[draw(st.sampled_from(names))]
        else:
            request.inputs[draw(input_names())].CopyFrom(draw(tensor_protos()))
    elif pick == 8:
        request.model_spec.name = draw(names_of_models())
    else:
        request.model_spec.version.value = draw(INT64 | st.sampled_from([0, 1, 2]))
    return request


# --- raw gRPC bytes -----------------------------------------------------------------------


@st.composite
def raw_request_bytes(draw: st.DrawFn) -> bytes:
    """Random bytes, or a (mutated) valid request's serialization cut short or corrupted."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=200))
    return corrupted(draw, draw(valid_requests() | mutated_requests()).SerializeToString())


def corrupted(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` cut short, with one byte replaced, or with bytes appended."""
    how = draw(st.sampled_from(["cut", "flip", "append"]))
    if how == "cut":
        return data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    if how == "flip" and data:
        index = draw(st.integers(0, len(data) - 1))
        return data[:index] + bytes([draw(st.integers(0, 255))]) + data[index + 1 :]
    return data + draw(st.binary(min_size=1, max_size=16))


# --- REST bodies and URLs ------------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["inputs", "instances", *INPUT_NAMES]) | st.text(max_size=6),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)
ODD_IDS: st.SearchStrategy[Any] = st.sampled_from(
    [-1, 1.5, "5", [5], 2**64, 2**64 - 1, True, None, [], {}, 1e20, math.nan, 0]
) | st.integers(-(2**65), 2**65)


def rest_valid_body(model: str, draw: st.DrawFn) -> dict[str, Any]:
    """A valid column-format body for `model`, with random values."""
    floats = st.floats(-1e6, 1e6, width=32)
    if model == DUMMY_MODEL:
        return {"inputs": {"b": [draw(st.lists(floats, min_size=10, max_size=10))]}}
    if model == DYNAMIC_MODEL:
        batch = draw(st.integers(1, 3))
        rows = st.lists(st.lists(INT32, min_size=3, max_size=3), min_size=batch, max_size=batch)
        masks = st.lists(
            st.lists(st.integers(0, 255), min_size=3, max_size=3), min_size=batch, max_size=batch
        )
        scale = draw(st.floats(-100, 100, width=16))
        return {"inputs": {"ids": draw(rows), "mask": draw(masks), "scale": [scale]}}
    control = draw(st.sampled_from([0, 1, 2]))
    sequence_id = draw(st.sampled_from(POOL_IDS) | st.integers(0, 2**20))
    return {"inputs": summator_rest_inputs(draw(floats), sequence_id, control)}


ODD_NUMBERS = st.sampled_from(
    [1e308, -1e308, 10**30, -(2**63) - 1, 2**63, 2**64, math.nan, math.inf, -math.inf, True]
)


def _replace_one_element(draw: st.DrawFn, value: Any) -> Any:
    """The same nested list with one leaf replaced by an odd JSON scalar."""
    if isinstance(value, list) and value:
        index = draw(st.integers(0, len(value) - 1))
        return [*value[:index], _replace_one_element(draw, value[index]), *value[index + 1 :]]
    return draw(ODD_NUMBERS | JSON_SCALARS)


@st.composite
def rest_mutated_bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    """(model, body): a valid body with one change, serialized (NaN/Infinity literals allowed)."""
    model = draw(st.sampled_from(SERVED))
    body = rest_valid_body(model, draw)
    inputs = body["inputs"]
    name = draw(st.sampled_from(sorted(inputs)))
    pick = draw(st.integers(0, 11))
    if pick == 0:
        body = {} if draw(st.booleans()) else body
    elif pick < 4:
        inputs[name] = _replace_one_element(draw, inputs[name])
    elif pick == 4:
        inputs[name] = draw(JSON_VALUES)
    elif pick == 5:
        inputs[name] = [[1.0, 2.0], [3.0]] if draw(st.booleans()) else [[[1]], [1]]
    elif pick < 8:
        key = draw(st.sampled_from([SEQUENCE_ID, SEQUENCE_CONTROL_INPUT]))
        inputs[key] = draw(ODD_IDS) if draw(st.booleans()) else [draw(ODD_IDS)]
    elif pick == 8:  # row format: one instance per batch row
        rows = [{k: v[0] if isinstance(v, list) else v for k, v in inputs.items()}]
        body = {"instances": rows * draw(st.integers(1, 2))}
    elif pick == 9:
        del inputs[name]
    elif pick == 10:
        inputs[draw(input_names())] = draw(JSON_VALUES)
    else:
        body = {"inputs": inputs[name]}
    return model, json.dumps(body).encode()


@st.composite
def rest_raw_bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    """(model, bytes): a valid body truncated, with invalid UTF-8, or random bytes."""
    model = draw(st.sampled_from(SERVED))
    data = json.dumps(rest_valid_body(model, draw)).encode()
    how = draw(st.sampled_from(["cut", "utf8", "random", "bom", "empty"]))
    if how == "cut":
        return model, data[: draw(st.integers(0, len(data) - 1))]
    if how == "utf8":
        index = draw(st.integers(0, len(data)))
        bad = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80", b"\xfe\xff"]))
        return model, data[:index] + bad + data[index:]
    if how == "bom":
        return model, b"\xef\xbb\xbf" + data
    if how == "empty":
        return model, b""
    return model, draw(st.binary(max_size=100))


def url_paths() -> st.SearchStrategy[tuple[str, str | None]]:
    """(model name, version text or None) for `/v1/models/{name}[/versions/{v}]:predict`."""
    version = (
        st.none()
        | st.sampled_from(["0", "1", "2", "-1", "01", "1.0", "", "x"])
        | st.from_regex(r"\A[0-9]{1,30}\Z")
    )
    return st.tuples(names_of_models(), version)
