"""KServe v2 fuzzing helpers: the error catalogue, case counts by code, and the strategies."""

import json
import math
import os
import urllib.parse
from collections import Counter
from typing import Any

import grpc
import numpy as np
from hypothesis import strategies as st
from tritonclient.grpc import service_pb2

from tests.server.support import fuzz_strategies as fuzz

FUZZ_MODEL = fuzz.FUZZ_MODEL  # stateful, the fuzz target (sequence extension)
SIDE_MODEL = fuzz.SIDE_MODEL  # stateful, the side sequences only
DUMMY_MODEL = fuzz.DUMMY_MODEL  # b f32 [1,10] -> a = b + 1
TWIN_MODEL = "twin"  # x, state_in f32 [1,1] -> y = state_out = x + state_in
SERVED = (FUZZ_MODEL, DUMMY_MODEL, TWIN_MODEL)
# Each served model's inputs (all FP32) and outputs by name.
INPUTS: dict[str, dict[str, tuple[int, ...]]] = {
    FUZZ_MODEL: {"x": (1, 1)},
    DUMMY_MODEL: {"b": (1, 10)},
    TWIN_MODEL: {"x": (1, 1), "state_in": (1, 1)},
}
SEQUENCE_PARAMETERS = ("sequence_id", "sequence_start", "sequence_end")
# Fuzz-model sequences started first, so that NO_CONTROL / END requests often find one.
POOL_INT_IDS = tuple(range(1, 25))
POOL_NAMES = tuple(f"pool-{i}" for i in range(8))
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1

_G = grpc.StatusCode
# OVMS's messages (src/status.cpp) with their gRPC code (grpc_utils.cpp) and KServe HTTP code
# (http_server.cpp), as the conformance tests quote them; "Ours" marks the extension's.
CATALOGUE: dict[str, tuple[grpc.StatusCode | None, int | None]] = {
    "Model with requested name is not found": (_G.NOT_FOUND, 404),
    "Model with requested version is not found": (_G.NOT_FOUND, 404),
    "Mediapipe graph definition with requested name is not found": (_G.NOT_FOUND, 404),
    "invalid model version format in request": (_G.INVALID_ARGUMENT, 500),
    "Sequence with provided ID does not exist": (_G.NOT_FOUND, 404),
    "Sequence with provided ID already exists": (_G.ALREADY_EXISTS, 409),
    "Max sequence number has been reached. Could not create new sequence.": (_G.UNAVAILABLE, 503),
    "Sequence ID has not been provided in request parameters": (_G.INVALID_ARGUMENT, 400),
    "Invalid sequence parameter": (_G.INVALID_ARGUMENT, 400),
    "Invalid number of inputs": (_G.INVALID_ARGUMENT, 400),
    "Missing input with specific name": (_G.INVALID_ARGUMENT, 400),
    "Invalid input precision": (_G.INVALID_ARGUMENT, 400),
    "Invalid input shape": (_G.INVALID_ARGUMENT, 400),
    "Invalid number of shape dimensions": (_G.INVALID_ARGUMENT, 400),
    "Invalid input batch size": (_G.INVALID_ARGUMENT, 400),
    "Invalid content size of tensor proto": (_G.INVALID_ARGUMENT, 400),
    "Invalid number of values in tensor proto container": (_G.INVALID_ARGUMENT, 400),
    "Passing buffers both in ModelInferRequest::InferInputTensor::contents and in "
    "ModelInferRequest::raw_input_contents is not allowed": (_G.INVALID_ARGUMENT, 400),
    "Number of raw_input_contents buffers does not match": (_G.INVALID_ARGUMENT, 400),
    # NOT_IMPLEMENTED (a BYTES input): gRPC UNKNOWN "Unknown error", HTTP 500.
    "Unknown error": (_G.UNKNOWN, None),
    "Functionality not implemented": (None, 500),
    # REST only.
    "The file is not valid json": (None, 412),
    "JSON nesting depth exceeds the allowed limit": (None, 500),
    "Request body should be JSON object": (None, 400),
    "Invalid JSON structure, missing inputs": (None, 400),
    "Could not parse input content. Not valid ndarray detected": (None, 400),
    "Could not parse input content. Unsupported data precision detected": (None, 400),
    "Could not parse output content.": (None, 400),
    "Could not parse request parameters": (None, 400),
    "Inference-Header-Content-Length header exceeds actual payload length": (None, 500),
    "Inference-Header-Content-Length header is invalid and couldn't be parsed": (None, 500),
    "binary_data_size parameter is invalid and cannot be parsed": (None, 400),
    "Received buffer size is smaller than binary_data_size parameter indicates": (None, 400),
    "Request contains values both in binary data and in content value": (None, 500),
    "Invalid request URL": (None, 400),
    "Unsupported method": (None, 406),
    "The provided base path is invalid or doesn't exists": (None, 400),
}
# What grpcio answers itself when the request bytes do not parse (before any handler runs).
GRPCIO_DESERIALIZE = (_G.INTERNAL, "Exception deserializing request!")


def known_message(message: str) -> str | None:
    """The catalogue message `message` starts with, or None."""
    return next((m for m in CATALOGUE if message.startswith(m)), None)


class FuzzStats:
    """Cases per property, successes, and errors by code and by catalogue message."""

    def __init__(self) -> None:
        """No cases yet."""
        self.stats: dict[str, dict[str, Any]] = {}

    def record(self, prop: str, outcome: str | None, message: str = "") -> None:
        """Count one case: outcome None is a success, else the error code."""
        stats = self.stats.setdefault(
            prop, {"cases": 0, "ok": 0, "errors": Counter(), "messages": Counter()}
        )
        stats["cases"] += 1
        if outcome is None:
            stats["ok"] += 1
            return
        stats["errors"][outcome] += 1
        stats["messages"][known_message(message) or message[:60]] += 1

    def report(self, seed: int | None) -> None:
        """Print one JSON line per property; with FUZZ_REPORT, append them to that file."""
        path = os.environ.get("FUZZ_REPORT")
        for name, stats in self.stats.items():
            line = {
                "property": name,
                **stats,
                "errors": dict(stats["errors"]),
                "messages": dict(stats["messages"]),
            }
            if seed is not None:
                line["seed"] = seed
            print(json.dumps(line))
            if path:
                with open(path, "a", encoding="utf-8") as out:
                    out.write(json.dumps(line) + "\n")


# --- scalars ---------------------------------------------------------------------------------

DATATYPES = st.sampled_from(
    [
        *("FP32", "FP16", "FP64", "BF16", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16"),
        *("UINT32", "UINT64", "BOOL", "BYTES", "", "fp32", "FP32 "),
    ]
) | st.text(max_size=6)
DIMS = st.integers(-3, 12) | st.sampled_from(fuzz.HUGE_DIMS) | fuzz.INT64
SHAPES = st.lists(DIMS, max_size=5)
VERSIONS = st.sampled_from(["", "", "", "0", "1", "2", "01", "-1", "+1", "x", " 1", "9" * 20])
INPUT_NAMES = st.sampled_from(["x", "b", "state_in", "y", "a", "sequence_id", ""]) | st.text(
    max_size=8
)
PARAMETER_NAMES = st.sampled_from(
    [*SEQUENCE_PARAMETERS, "binary_data_output", "priority", "timeout"]
) | st.text(max_size=8)
F32 = st.floats(-1e6, 1e6, width=32)
SPECIAL_F32 = st.sampled_from([math.nan, math.inf, -math.inf, 3.4e38, -0.0, 1e-45, 1e-39])


@st.composite
def model_names(draw: st.DrawFn) -> str:
    """Mostly (6 in 10) served names; else the side model, near misses and random text."""
    pick = draw(st.integers(0, 9))
    if pick < 6:
        return draw(st.sampled_from(SERVED))
    if pick == 6:
        return draw(st.sampled_from([*fuzz.PATH_LIKE, "Dummy", "twin ", "summator"]))
    return draw(st.text(max_size=20))


# --- gRPC ModelInferRequests -------------------------------------------------------------------

_CONTENTS: dict[str, st.SearchStrategy[Any]] = {
    "bool_contents": st.booleans(),
    "int_contents": fuzz.INT32,
    "int64_contents": fuzz.INT64,
    "uint_contents": fuzz.UINT32,
    "uint64_contents": fuzz.UINT64,
    "fp32_contents": fuzz.FLOATS,
    "fp64_contents": fuzz.DOUBLES,
    "bytes_contents": st.binary(max_size=6),
}


def set_parameter(parameter: Any, value: Any) -> None:
    """Fill an InferParameter with a Python value in its natural field (uint64 past int64)."""
    if isinstance(value, bool):
        parameter.bool_param = value
    elif isinstance(value, str):
        parameter.string_param = value
    elif isinstance(value, float):
        parameter.double_param = value
    elif value > INT64_MAX:
        parameter.uint64_param = value
    else:
        parameter.int64_param = value


PARAMETER_VALUES = (
    st.booleans()
    | st.text(max_size=6)
    | st.floats()
    | fuzz.INT64
    | st.integers(INT64_MAX + 1, UINT64_MAX)
    | st.sampled_from([0, -1, 1, 2**63, UINT64_MAX, "", "0", 5.0, True, False])
)


@st.composite
def grpc_tensors(draw: st.DrawFn) -> service_pb2.ModelInferRequest.InferInputTensor:
    """An input tensor with random name, datatype, shape, parameters and typed contents."""
    tensor = service_pb2.ModelInferRequest.InferInputTensor()
    tensor.name = draw(INPUT_NAMES)
    tensor.datatype = draw(DATATYPES)
    tensor.shape.extend(draw(SHAPES))
    if draw(st.booleans()):
        set_parameter(tensor.parameters[draw(PARAMETER_NAMES)], draw(PARAMETER_VALUES))
    if draw(st.booleans()):
        tensor.contents.SetInParent()
        for field in draw(st.lists(st.sampled_from(sorted(_CONTENTS)), max_size=2, unique=True)):
            getattr(tensor.contents, field).extend(draw(st.lists(_CONTENTS[field], max_size=12)))
    return tensor


@st.composite
def grpc_noise_requests(draw: st.DrawFn) -> service_pb2.ModelInferRequest:
    """A ModelInferRequest built from random parts."""
    request = service_pb2.ModelInferRequest(
        model_name=draw(model_names()), model_version=draw(VERSIONS), id=draw(st.text(max_size=6))
    )
    for key, value in draw(st.dictionaries(PARAMETER_NAMES, PARAMETER_VALUES, max_size=4)).items():
        set_parameter(request.parameters[key], value)
    for tensor in draw(st.lists(grpc_tensors(), max_size=4)):
        request.inputs.append(tensor)
    request.raw_input_contents.extend(draw(st.lists(st.binary(max_size=48), max_size=3)))
    for name in draw(st.lists(INPUT_NAMES, max_size=2)):
        request.outputs.add(name=name)
    return request


@st.composite
def sequence_parameters(draw: st.DrawFn) -> dict[str, Any]:
    """Valid sequence parameters: a pool id or name (mostly), start / end flags or none."""
    pool = st.sampled_from(POOL_INT_IDS) | st.sampled_from(POOL_NAMES)
    fresh = st.integers(1, 2**20) | st.sampled_from([2**63, UINT64_MAX]) | st.text(min_size=1)
    parameters: dict[str, Any] = {"sequence_id": draw(pool | pool | fresh)}
    for flag in ("sequence_start", "sequence_end"):
        pick = draw(st.integers(0, 3))
        if pick:
            parameters[flag] = pick == 1
    return parameters


@st.composite
def grpc_valid_requests(draw: st.DrawFn) -> service_pb2.ModelInferRequest:
    """A valid request to dummy, twin or the fuzz summator; data raw or typed (fp32_contents)."""
    model = draw(st.sampled_from(SERVED))
    request = service_pb2.ModelInferRequest(
        model_name=model,
        model_version=draw(st.sampled_from(["", "1", "0"])),
        id=draw(st.text(max_size=4)),
    )
    parameters = draw(sequence_parameters()) if model == FUZZ_MODEL or draw(st.booleans()) else {}
    for key, value in parameters.items():
        set_parameter(request.parameters[key], value)
    names = list(INPUTS[model])
    raw = draw(st.booleans())
    for name in draw(st.permutations(names)):
        shape = INPUTS[model][name]
        values = draw(st.lists(F32, min_size=math.prod(shape), max_size=math.prod(shape)))
        tensor = request.inputs.add(name=name, datatype="FP32", shape=shape)
        if raw:
            request.raw_input_contents.append(np.array(values, np.float32).tobytes())
        else:
            tensor.contents.fp32_contents.extend(values)
    return request


TENSOR_CHANGES = (
    "datatype",
    "dim",
    "add_dim",
    "drop_dims",
    "name",
    "to_typed_field",
    "mix",
    "raw_bytes",
    "raw_count",
    "value_count",
    "special",
    "contents_field",
    "duplicate",
    "remove",
    "extra",
)


def _mutate_tensor(draw: st.DrawFn, request: service_pb2.ModelInferRequest) -> None:
    """Change one thing about the inputs or their data."""
    change = draw(st.sampled_from(TENSOR_CHANGES))
    index = draw(st.integers(0, len(request.inputs) - 1))
    tensor = request.inputs[index]
    raw = request.raw_input_contents
    if change == "datatype":
        tensor.datatype = draw(DATATYPES)
    elif change == "dim" and tensor.shape:
        tensor.shape[draw(st.integers(0, len(tensor.shape) - 1))] = draw(DIMS)
    elif change == "add_dim":
        tensor.shape.append(draw(DIMS))
    elif change == "drop_dims":
        del tensor.shape[:]
    elif change == "name":
        tensor.name = draw(INPUT_NAMES)
    elif change == "to_typed_field" and raw:  # raw buffers become typed values of another field
        values = np.frombuffer(raw[index], np.float32).tolist()
        del raw[:]
        field = draw(st.sampled_from(sorted(_CONTENTS)))
        typed = values if field in ("fp32_contents", "fp64_contents") else [True] * len(values)
        typed = [int(v) for v in typed] if "int" in field else typed
        for other in request.inputs:
            getattr(other.contents, field).extend(typed if field != "bytes_contents" else [b"1"])
    elif change == "mix":  # raw buffers and typed contents together
        if raw:
            tensor.contents.fp32_contents.extend([1.0])
        else:
            raw.append(bytes(4 * max(len(tensor.contents.fp32_contents), 1)))
    elif change == "raw_bytes" and raw:
        data = raw[index]
        raw[index] = draw(st.sampled_from([data[:-1], data + b"\0", b"", data * 2]))
    elif change == "raw_count":
        if raw and draw(st.booleans()):
            del raw[-1]
        else:
            raw.append(draw(st.binary(max_size=8)))
    elif change == "value_count" and not raw:
        values = tensor.contents.fp32_contents
        if values and draw(st.booleans()):
            del values[-1]
        else:
            values.append(draw(F32))
    elif change == "special":
        count = math.prod(tensor.shape)
        values = draw(st.lists(SPECIAL_F32, min_size=count, max_size=count))
        if raw:
            raw[index] = np.array(values, np.float32).tobytes()
        else:
            del tensor.contents.fp32_contents[:]
            tensor.contents.fp32_contents.extend(values)
    elif change == "contents_field":  # values in another field too
        field = draw(st.sampled_from(sorted(_CONTENTS)))
        getattr(tensor.contents, field).extend(draw(st.lists(_CONTENTS[field], max_size=4)))
    elif change == "duplicate":
        request.inputs.append(tensor)
        if raw:
            raw.append(raw[index])
    elif change == "remove":
        del request.inputs[index]
        if raw:
            del raw[index]
    else:
        request.inputs.append(draw(grpc_tensors()))


BAD_SEQUENCE_VALUES = (
    st.sampled_from(
        [0, -1, -(2**63), "", 1.5, 5.0, True, False, "yes", 1, 2**63, UINT64_MAX, "pool-0"]
    )
    | PARAMETER_VALUES
)


@st.composite
def grpc_mutated_requests(draw: st.DrawFn) -> service_pb2.ModelInferRequest:
    """A valid request with one thing changed (these find more than pure noise)."""
    request = draw(grpc_valid_requests())
    pick = draw(st.integers(0, 9))
    if pick < 5:
        _mutate_tensor(draw, request)
    elif pick < 8:  # a sequence parameter of any type or value, or one removed
        key = draw(st.sampled_from(SEQUENCE_PARAMETERS) | PARAMETER_NAMES)
        if draw(st.integers(0, 3)) == 0:
            request.parameters.pop(key, None)
        else:
            request.parameters[key].Clear()
            set_parameter(request.parameters[key], draw(BAD_SEQUENCE_VALUES))
    elif pick == 8:
        request.model_name = draw(model_names())
    else:
        request.model_version = draw(VERSIONS | st.text(max_size=4))
    return request


@st.composite
def grpc_raw_bytes(draw: st.DrawFn) -> bytes:
    """Random bytes, or a (mutated) valid request's serialization cut short or corrupted."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=200))
    data = draw(grpc_valid_requests() | grpc_mutated_requests()).SerializeToString()
    return fuzz.corrupted(draw, data)


# --- REST bodies ---------------------------------------------------------------------------


def infer_path(model: str, version: str | None = None) -> str:
    """`/v2/models/{name}[/versions/{v}]/infer`, the name URL-encoded."""
    name = urllib.parse.quote(model, safe="")
    return f"/v2/models/{name}" + ("" if version is None else f"/versions/{version}") + "/infer"


@st.composite
def rest_valid_documents(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """(model, body): a valid JSON infer body, `data` flat or nested, maybe outputs asked for."""
    model = draw(st.sampled_from(SERVED))
    document: dict[str, Any] = {}
    if draw(st.booleans()):
        document["id"] = draw(st.text(max_size=4))
    if model == FUZZ_MODEL or draw(st.integers(0, 3)) == 0:
        document["parameters"] = draw(sequence_parameters())
    inputs = []
    for name in draw(st.permutations(list(INPUTS[model]))):
        shape = list(INPUTS[model][name])
        values = draw(st.lists(F32, min_size=math.prod(shape), max_size=math.prod(shape)))
        data = (
            np.array(values, np.float32).reshape(shape).tolist() if draw(st.booleans()) else values
        )
        inputs.append({"name": name, "shape": shape, "datatype": "FP32", "data": data})
    document["inputs"] = inputs
    if draw(st.booleans()):
        outputs = ["y", "state_out"] if model != DUMMY_MODEL else ["a"]
        name = draw(st.sampled_from(outputs))
        document["outputs"] = [{"name": name, "parameters": {"binary_data": draw(st.booleans())}}]
    return model, document


ODD_JSON = fuzz.ODD_NUMBERS | fuzz.JSON_SCALARS | st.just([]) | st.just({})


@st.composite
def rest_mutated_documents(draw: st.DrawFn) -> tuple[str, dict[str, Any] | list[Any]]:
    """(model, body): a valid body with one change (NaN / Infinity literals allowed)."""
    model, document = draw(rest_valid_documents())
    inputs = document["inputs"]
    tensor = inputs[draw(st.integers(0, len(inputs) - 1))]
    pick = draw(st.integers(0, 13))
    if pick == 0:
        tensor[draw(st.sampled_from(["name", "shape", "datatype", "data"]))] = draw(ODD_JSON)
    elif pick == 1:
        tensor["data"] = fuzz._replace_one_element(draw, tensor["data"])
    elif pick == 2:
        tensor["shape"] = draw(st.lists(st.integers(-2, 12) | st.sampled_from([2**31, 2**63])))
    elif pick == 3:
        tensor["datatype"] = draw(DATATYPES)
    elif pick == 4:
        del tensor[draw(st.sampled_from(sorted(tensor)))]
    elif pick == 5:
        tensor["data"] = draw(st.sampled_from([[[1.0, 2.0], [3.0]], [[[1]], [1]], [], [[]]]))
    elif pick < 9:  # a sequence parameter of any JSON value, or removed
        parameters = document.setdefault("parameters", {})
        key = draw(st.sampled_from(SEQUENCE_PARAMETERS))
        if draw(st.integers(0, 3)) == 0:
            parameters.pop(key, None)
        else:
            parameters[key] = draw(fuzz.ODD_IDS | ODD_JSON)
    elif pick == 9:
        document[draw(st.sampled_from(["parameters", "outputs", "id", "inputs"]))] = draw(
            fuzz.JSON_VALUES
        )
    elif pick == 10:
        tensor["parameters"] = draw(fuzz.JSON_VALUES)
    elif pick == 11:
        if draw(st.booleans()):
            inputs.remove(tensor)
        else:
            inputs.append(dict(tensor) if draw(st.booleans()) else draw(fuzz.JSON_VALUES))
    elif pick == 12:
        document["outputs"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {"name": INPUT_NAMES | ODD_JSON},
                    optional={"parameters": st.dictionaries(PARAMETER_NAMES, ODD_JSON)},
                ),
                max_size=3,
            )
        )
    else:
        return model, inputs if draw(st.booleans()) else [document]
    return model, document


@st.composite
def rest_binary_bodies(draw: st.DrawFn) -> tuple[str, bytes, str | None]:
    """(model, body, Inference-Header-Content-Length): binary data, sizes and lengths varied."""
    model, document = draw(rest_valid_documents())
    tail = b""
    for tensor in document["inputs"]:
        if draw(st.integers(0, 3)) == 0:
            continue  # this one keeps its JSON data
        values = np.array(tensor.pop("data"), np.float32).reshape(-1)
        data = values.astype("<f4").tobytes()
        size = len(data)
        pick = draw(st.integers(0, 9))
        if pick == 0:  # a wrong or odd binary_data_size
            size = draw(st.sampled_from([size - 1, size + 1, 0, -1, 2**31, "40", 4.0, None]))
        elif pick == 1:
            tensor["data"] = values.tolist()  # data in both places
        if pick != 2:  # pick 2: no binary_data_size (the server computes it from the shape)
            tensor["parameters"] = {"binary_data_size": size}
        if pick == 3:
            data = data[: draw(st.integers(0, len(data)))]
        tail += data
    header = json.dumps(document).encode()
    body = header + tail
    pick = draw(st.integers(0, 9))
    if pick < 5:
        length: str | None = str(len(header))
    elif pick == 5:
        length = None
    elif pick == 6:
        length = str(draw(st.integers(-5, len(body) + 5)))
    elif pick == 7:
        length = draw(
            st.sampled_from(["x", "", " 5", "+5", "-0", "1e3", "99999999999", "0x10", "5 "])
        )
    elif pick == 8:
        length = str(len(body) + draw(st.integers(1, 2**40)))
    else:
        length = str(len(header))
        body += draw(st.binary(min_size=1, max_size=16))  # trailing bytes beyond the inputs
    return model, body, length


@st.composite
def rest_raw_bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    """(model, bytes): a valid body truncated, with invalid UTF-8, a NUL, or random bytes."""
    model, document = draw(rest_valid_documents())
    data = json.dumps(document).encode()
    how = draw(st.sampled_from(["cut", "utf8", "nul", "random", "bom", "empty", "deep"]))
    if how == "cut":
        return model, data[: draw(st.integers(0, len(data) - 1))]
    if how in ("utf8", "nul"):
        index = draw(st.integers(0, len(data)))
        bad = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80"]))
        return model, data[:index] + (bad if how == "utf8" else b"\0") + data[index:]
    if how == "bom":
        return model, b"\xef\xbb\xbf" + data
    if how == "empty":
        return model, b""
    if how == "deep":
        depth = draw(st.integers(90, 110))
        return model, b'{"inputs":' + b"[" * depth + b"]" * depth + b"}"
    return model, draw(st.binary(max_size=100))


METHODS = st.sampled_from(["GET", "POST", "OPTIONS", "PUT", "DELETE", "PATCH", "HEAD", "FOO"])
_SEGMENTS = st.sampled_from(
    [
        *("models", "health", "live", "ready", "infer", "versions", "1", "0", "2", "01"),
        *("", ".", "..", "%2e%2e", "%00", "%zz", "%", *SERVED, SIDE_MODEL, "9" * 25),
    ]
) | st.text(max_size=8).map(lambda text: urllib.parse.quote(text, safe=""))


@st.composite
def v2_paths(draw: st.DrawFn) -> str:
    """A path under /v2: mostly real routes with one part changed, else random segments."""
    if draw(st.booleans()):
        return "/v2/" + "/".join(draw(st.lists(_SEGMENTS, max_size=6)))
    model = urllib.parse.quote(draw(model_names()), safe="")
    version = draw(st.none() | st.sampled_from(["1", "0", "2", "001", "9" * 25]))
    base = f"/v2/models/{model}" + ("" if version is None else f"/versions/{version}")
    suffix = draw(st.sampled_from(["", "/", "/ready", "/infer", "/infer/", "/ready/x"]))
    return base + suffix + draw(st.sampled_from(["", "", "?a=1", "#f"]))
