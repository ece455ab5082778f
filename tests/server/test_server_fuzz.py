"""Property-based fuzzing of Predict (gRPC and REST): bad input gets a clear error, never a crash.

Bounded and reproducible by default (derandomized). A soak run sets FUZZ_EXAMPLES (examples per
property; random seed, printed, or FUZZ_SEED to replay) and FUZZ_REPORT (a file that gets one
JSON line per property with the cases tried and the errors by code).
"""

import http.client
import json
import os
import random
import re
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, seed, settings
from hypothesis import strategies as st

from helpers.models.summator import build_summator
from helpers.serving import launcher
from helpers.serving.client import predict_request
from helpers.serving.protocol import SEQUENCE_ID
from tests.server.support import fuzz_strategies as fuzz
from tests.server.support.dtypes import DT_HALF, DT_INT32, DT_UINT8, DT_UINT64
from tests.server.support.models import build_dummy, build_dynamic_model
from tests.server.support.requests import (
    output,
    predict,
    predict_error,
    predict_pb2,
    prediction_service_pb2_grpc,
    summator_rest_inputs,
    summator_x,
    tensor_pb2,
    tensor_with_content,
)
from tests.server.support.servers import serve_repository

SOAK = "FUZZ_EXAMPLES" in os.environ
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
SEED = int(os.environ.get("FUZZ_SEED") or random.SystemRandom().randrange(2**32))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=not SOAK,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def fuzz_settings(test: Any) -> Any:
    """Apply the fuzz settings, plus the printed seed in a soak run."""
    return seed(SEED)(FUZZ(test)) if SOAK else FUZZ(test)


PREDICT = "/tensorflow.serving.PredictionService/Predict"
TIMEOUT = 30.0
SIDE_SEQUENCES = 4
# Messages of the spec's error catalogue (§1, §4.1, §4.2, §4.5, §13), quoted from the spec.
SPEC_MESSAGES = (
    "Model with requested name is not found",
    "Model with requested version is not found",
    "Model with requested version is not loaded yet",
    "Model with requested version is retired",
    "Sequence with provided ID does not exist",
    "Sequence with provided ID already exists",
    "Sequence last request is being processed and it's not available anymore",
    "Max sequence number has been reached. Could not create new sequence.",
    "Sequence ID has not been provided in request inputs",
    "Unexpected value of sequence control input",
    "Could not find sequence id in expected tensor proto field uint64_val",
    "Could not find sequence control input in expected tensor proto field uint32_val",
    "Special input proto does not contain tensor shape information",
    "Invalid number of shape dimensions",
    "Invalid input shape",
    "Invalid number of inputs",
    "Missing input with specific name",
    "Invalid content size of tensor proto",
    "Could not parse input content. Not valid ndarray detected",
    "Could not parse instance content. Not valid ndarray detected",
)
# Further OVMS status messages (src/status.cpp) that the spec does not quote.
OVMS_MESSAGES = (
    "Invalid input precision",
    "Invalid input batch size",
    "The file is not valid json",
    "Request body should be JSON object",
    "Invalid JSON structure. Could not detect row or column format",
    "Invalid request URL",
)
CATALOGUE = SPEC_MESSAGES + OVMS_MESSAGES
_G = grpc.StatusCode
# The gRPC and HTTP codes the spec gives each message (§1, §4.5); all others are
# INVALID_ARGUMENT / 400.
CODES: dict[str, tuple[grpc.StatusCode, int]] = {
    "Model with requested name is not found": (_G.NOT_FOUND, 404),
    "Model with requested version is not found": (_G.NOT_FOUND, 404),
    "Model with requested version is not loaded yet": (_G.UNAVAILABLE, 404),
    "Model with requested version is retired": (_G.NOT_FOUND, 404),
    "Sequence with provided ID does not exist": (_G.NOT_FOUND, 404),
    "Sequence with provided ID already exists": (_G.ALREADY_EXISTS, 409),
    "Sequence last request is being processed and it's not available anymore": (
        _G.FAILED_PRECONDITION,
        412,
    ),
    "Max sequence number has been reached. Could not create new sequence.": (_G.UNAVAILABLE, 503),
    "Invalid request URL": (_G.INVALID_ARGUMENT, 404),
}


def expected_codes(message: str) -> tuple[grpc.StatusCode, int]:
    """The codes the spec gives the catalogue message `message` starts with."""
    known = next(m for m in CATALOGUE if message.startswith(m))
    return CODES.get(known, (_G.INVALID_ARGUMENT, 400))


# What grpcio itself answers when the request bytes do not parse (before our handler runs).
GRPCIO_DESERIALIZE = (grpc.StatusCode.INTERNAL, "Exception deserializing request!")

# OVMS's answer when OpenVINO rejects the inputs at run time (dynamic dims that disagree).
INFERENCE_ERROR = (grpc.StatusCode.INTERNAL, "Internal inference error")

STATS: dict[str, dict[str, Any]] = {}


def record(prop: str, outcome: str | None, message: str = "") -> None:
    """Count one case of a property: outcome None is a success, else the error code."""
    stats = STATS.setdefault(
        prop, {"cases": 0, "ok": 0, "errors": Counter(), "messages": Counter()}
    )
    stats["cases"] += 1
    if outcome is None:
        stats["ok"] += 1
    else:
        stats["errors"][outcome] += 1
        known = [m for m in (*CATALOGUE, GRPCIO_DESERIALIZE[1]) if message.startswith(m)]
        stats["messages"][known[0] if known else message[:60]] += 1


def in_catalogue(message: str) -> bool:
    """True when the message starts with one of the catalogue's messages."""
    return any(message.startswith(known) for known in CATALOGUE)


def assert_clear_grpc_error(code: grpc.StatusCode, details: str) -> None:
    """A clear gRPC error: a catalogue message as the details, with the spec's code for it."""
    assert details, f"empty details for {code}"
    assert in_catalogue(details), f"{code}: {details!r} is not a catalogue message"
    assert code == expected_codes(details)[0], f"{code}: {details!r}"


# --- the server and the side sequences ------------------------------------------------------


FUZZ_SERVER_MODELS: list[dict[str, object]] = [
    {
        "name": fuzz.FUZZ_MODEL,
        "base_path": "summator",
        "stateful": True,
        "idle_sequence_cleanup": False,
        "max_sequence_number": 1_000_000,
    },
    {
        "name": fuzz.SIDE_MODEL,
        "base_path": "summator",
        "stateful": True,
        "idle_sequence_cleanup": False,
        "max_sequence_number": 4 * SIDE_SEQUENCES,
    },
    {"name": fuzz.DUMMY_MODEL},
    {"name": fuzz.DYNAMIC_MODEL},
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[launcher.ServerHandle]:
    """This module's own server: summator (under two names), dummy and the dynamic-shape model;
    gRPC and REST, no polling, idle cleanup off."""
    models = {
        "summator": build_summator(),
        fuzz.DUMMY_MODEL: build_dummy(),
        fuzz.DYNAMIC_MODEL: build_dynamic_model(),
    }
    root = tmp_path_factory.mktemp("fuzz_repo")
    with serve_repository(root, models, FUZZ_SERVER_MODELS, file_poll_seconds=0) as handle:
        yield handle


@pytest.fixture(scope="module")
def channel(server: launcher.ServerHandle) -> Iterator[grpc.Channel]:
    """The fuzzer's gRPC channel."""
    with grpc.insecure_channel(server.grpc_address) as chan:
        yield chan


def rest_call(server: launcher.ServerHandle, path: str, body: bytes) -> tuple[int, str, bytes]:
    """POST `body` to `path` on a fresh connection; (status, Content-Type, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=TIMEOUT)
    try:
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        connection.close()


class SideSequences:
    """Side sequences on their own model, one after another in a thread, checked by cumsum."""

    def __init__(self, server: launcher.ServerHandle, channel: grpc.Channel) -> None:
        self.server = server
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        self.rng = np.random.default_rng(20260)
        self.stop_event = threading.Event()
        self.steps = 0
        self.completed = Counter[str]()
        self.mismatches: list[str] = []
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._run, name="side-sequences", daemon=True)

    def _step(self, transport: str, sequence_id: int, control: int, x: float) -> tuple[float, int]:
        """One request; returns (y, sequence id from the response)."""
        if transport == "grpc":
            request = predict_request(fuzz.SIDE_MODEL, summator_x(x), sequence_id, control)
            response = self.stub.Predict(request, timeout=TIMEOUT)
            y = np.frombuffer(response.outputs["y"].tensor_content, np.float32)
            return float(y[0]), int(response.outputs[SEQUENCE_ID].uint64_val[0])
        body = {"inputs": summator_rest_inputs(x, sequence_id, control)}
        path = f"/v1/models/{fuzz.SIDE_MODEL}:predict"
        status, _, raw = rest_call(self.server, path, json.dumps(body).encode())
        if status != 200:
            raise RuntimeError(f"REST {status}: {raw[:200]!r}")
        outputs = json.loads(raw)["outputs"]
        return float(outputs["y"][0][0]), int(outputs[SEQUENCE_ID][0])

    def _run_sequence(self, transport: str, slot: int) -> None:
        """START, several NO_CONTROL, END; every y checked against cumsum of the inputs."""
        length = int(self.rng.integers(3, 25))
        inputs = self.rng.standard_normal(length).astype(np.float32)
        expected = np.cumsum(inputs, dtype=np.float32)
        # Even slots let the server pick the id (START with id 0).
        sequence_id = 0 if slot % 2 == 0 else 900_000 + slot
        for step, x in enumerate(inputs):
            control = 1 if step == 0 else (2 if step == length - 1 else 0)
            y, returned = self._step(transport, sequence_id, control, float(x))
            sequence_id = returned if step == 0 and sequence_id == 0 else sequence_id
            self.steps += 1
            if returned != sequence_id or not np.isclose(y, expected[step], rtol=1e-5):
                self.mismatches.append(
                    f"{transport} id {sequence_id} step {step}: y={y} want {expected[step]}"
                )
            if self.stop_event.wait(0.002):
                return
        self.completed[transport] += 1

    def _run(self) -> None:
        """Run `SIDE_SEQUENCES` sequences in turn (half over gRPC, half REST) until stopped."""
        while not self.stop_event.is_set():
            for slot in range(SIDE_SEQUENCES):
                transport = "grpc" if slot < SIDE_SEQUENCES // 2 else "rest"
                try:
                    self._run_sequence(transport, slot)
                except Exception as error:  # any failure here is a finding
                    self.errors.append(f"{transport} slot {slot}: {error!r}")
                if self.stop_event.is_set():
                    return

    def stop(self) -> None:
        """Stop after the current step and wait for the thread."""
        self.stop_event.set()
        self.thread.join(TIMEOUT * 2)


@pytest.fixture(scope="module")
def side(server: launcher.ServerHandle) -> Iterator[SideSequences]:
    """The side sequences, running for the whole module."""
    with grpc.insecure_channel(server.grpc_address) as chan:
        runner = SideSequences(server, chan)
        runner.thread.start()
        yield runner
        runner.stop()


@pytest.fixture(scope="module", autouse=True)
def fuzz_report() -> Iterator[None]:
    """Print the cases per property and, with FUZZ_REPORT, append them as JSON lines."""
    yield
    report = os.environ.get("FUZZ_REPORT")
    if SOAK:
        print(f"\nfuzz seed: {SEED} (replay with FUZZ_SEED={SEED})")
    for name, stats in STATS.items():
        line = {
            "property": name,
            **stats,
            "errors": dict(stats["errors"]),
            "messages": dict(stats["messages"]),
        }
        if SOAK:
            line["seed"] = SEED
        print(json.dumps(line))
        if report:
            with open(report, "a", encoding="utf-8") as out:
                out.write(json.dumps(line) + "\n")


# --- checking one gRPC outcome ----------------------------------------------------------------


def decoded(proto: tensor_pb2.TensorProto, dtype: np.dtype, field: str) -> np.ndarray:
    """A data input as the server must read it: tensor_content, else the typed field with
    TensorFlow's C-style cast (wrap-around) to the element type."""
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    if proto.tensor_content:
        return np.frombuffer(proto.tensor_content, dtype).reshape(shape)
    values = list(getattr(proto, field))
    if dtype == np.float16:
        return np.array(values, np.int64).astype(np.uint16).view(np.float16).reshape(shape)
    if dtype.kind in "iu":
        return np.array(values, np.int64).astype(dtype).reshape(shape)
    return np.array(values, dtype).reshape(shape)


def content_output(response: predict_pb2.PredictResponse, name: str) -> np.ndarray:
    """One output, which must come in tensor_content as OVMS sends it (not in a typed field)."""
    proto = response.outputs[name]
    empty = 0 in [d.size for d in proto.tensor_shape.dim]
    assert proto.tensor_content or empty, f"{name} is not in tensor_content"
    return output(response, name)


def flushed(value: np.ndarray) -> np.ndarray:
    """`value` with subnormal floats as zero (flush-to-zero)."""
    value = np.asarray(value)
    tiny = np.finfo(value.dtype).tiny
    return np.where(np.abs(value) < tiny, np.zeros_like(value), value).astype(value.dtype)


def assert_float_result(got: np.ndarray, compute: Callable[[Callable], np.ndarray]) -> None:
    """`got` equals `compute` done in IEEE arithmetic or with subnormals flushed to zero.

    Whether OpenVINO's CPU plugin flushes subnormals depends on the thread that runs the
    inference (its floating-point control flags), so both results are correct.
    """
    exact, ftz = compute(lambda a: a), compute(flushed)
    if not np.array_equal(got, ftz):
        np.testing.assert_array_equal(got, exact)


class ShadowSequences:
    """What each fuzz-model sequence must hold: successes update it, errors never touch it."""

    def __init__(self) -> None:
        self.sums: dict[int, np.float32] = {}
        self.checked = 0

    def step(
        self, requested: int, control: int, returned: int, x: np.float32, y: np.float32
    ) -> None:
        """Check one successful step against the running sum kept here (numpy float32)."""
        if control == 1:
            assert requested == 0 or requested not in self.sums, f"START on live id {requested}"
            assert requested in (0, returned), (requested, returned)
            assert_float_result(y, lambda f: f(x))
            self.sums[returned] = y
            self.checked += 1
            return
        assert requested == returned, (requested, returned)
        # Every success on this model passes through here, so the server has no other sequence.
        assert returned in self.sums, f"a step succeeded on unknown id {returned}"
        total = self.sums[returned]
        assert_float_result(y, lambda f: f(np.float32(f(total) + f(x))))
        self.checked += 1
        if control == 2:
            self.sums.pop(returned, None)
        else:
            self.sums[returned] = y


def check_success(
    shadow: ShadowSequences, request: predict_pb2.PredictRequest, response: Any
) -> None:
    """A successful response has the model's outputs, computed from the request's inputs."""
    model, inputs = request.model_spec.name, request.inputs
    spec = request.model_spec
    assert not spec.HasField("version") or spec.version.value in (0, 1), spec  # only 1 is served
    if model == fuzz.FUZZ_MODEL:
        assert set(response.outputs) == {"y", "sequence_id"}
        y = content_output(response, "y")
        assert y.shape == (1, 1)
        returned = response.outputs["sequence_id"]
        assert returned.dtype == DT_UINT64 and len(returned.uint64_val) == 1
        assert [d.size for d in returned.tensor_shape.dim] == [1]
        control = inputs.get("sequence_control_input")
        requested = inputs["sequence_id"].uint64_val[0] if "sequence_id" in inputs else 0
        x = decoded(inputs["x"], np.dtype(np.float32), "float_val").reshape(-1)[0]
        step_control = control.uint32_val[0] if control is not None else 0
        shadow.step(requested, step_control, returned.uint64_val[0], x, y[0, 0])
    elif model == fuzz.DUMMY_MODEL:
        b = decoded(inputs["b"], np.dtype(np.float32), "float_val")
        assert_float_result(content_output(response, "a"), lambda f: f(f(b) + np.float32(1)))
    else:
        assert model == fuzz.DYNAMIC_MODEL, model
        ids = decoded(inputs["ids"], np.dtype(np.int32), "int_val")
        mask = decoded(inputs["mask"], np.dtype(np.uint8), "int_val")
        np.testing.assert_array_equal(content_output(response, "sum"), ids + mask.astype(np.int32))
        scale = decoded(inputs["scale"], np.dtype(np.float16), "half_val")
        np.testing.assert_array_equal(content_output(response, "scaled"), scale * np.float16(2))


def dynamic_dims_conflict(request: predict_pb2.PredictRequest) -> bool:
    """True when `dyn`'s ids and mask have shapes that cannot be added (numpy broadcasting).

    Only OpenVINO can see this; OVMS (and this server) answer OV_INTERNAL_INFERENCE_ERROR.
    """
    if request.model_spec.name != fuzz.DYNAMIC_MODEL:
        return False
    shapes = [tuple(d.size for d in request.inputs[n].tensor_shape.dim) for n in ("ids", "mask")]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        return True
    return False


def send_request(
    channel: grpc.Channel, shadow: ShadowSequences, prop: str, request: predict_pb2.PredictRequest
) -> None:
    """Send one request and check the property: a sane success or a clear error."""
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    try:
        response = stub.Predict(request, timeout=TIMEOUT)
    except grpc.RpcError as error:
        record(prop, error.code().name, error.details() or "")
        if (error.code(), error.details()) == INFERENCE_ERROR:
            assert dynamic_dims_conflict(request), "an inference error for valid input"
            return
        assert_clear_grpc_error(error.code(), error.details() or "")
        return
    record(prop, None)
    with np.errstate(all="ignore"):
        check_success(shadow, request, response)


@pytest.fixture(scope="module")
def shadow(channel: grpc.Channel) -> ShadowSequences:
    """START the pool sequences on the fuzz model (x = 0) and track them from here on."""
    tracked = ShadowSequences()
    for sequence_id in fuzz.POOL_IDS:
        request = predict_request(fuzz.FUZZ_MODEL, summator_x(0.0), sequence_id, 1)
        send_request(channel, tracked, "pool_starts", request)
    assert set(fuzz.POOL_IDS) <= set(tracked.sums)
    return tracked


# --- gRPC properties ----------------------------------------------------------------------


@fuzz_settings
@given(request=fuzz.noise_requests())
def test_grpc_random_requests(channel, side, shadow, request):
    """Random PredictRequests: a success or a clear error."""
    send_request(channel, shadow, "grpc_random_requests", request)


@fuzz_settings
@given(request=fuzz.mutated_requests())
def test_grpc_mutated_requests(channel, side, shadow, request):
    """Valid requests with one thing changed: a success or a clear error."""
    send_request(channel, shadow, "grpc_mutated_requests", request)


@fuzz_settings
@given(data=fuzz.raw_request_bytes())
@example(data=b"\xff\xff\xff")
@example(data=b"")
# Found by the soak: `dyn`'s ids [0, 3] against mask [4, 3], which only OpenVINO rejects.
@example(
    data=b'\n\x05\n\x03dyn\x12\x15\n\x05scale\x12\x0c\x08\x13\x12\x04\x12\x02\x08\x01"\x02'
    b'\x00\x00\x12"\n\x04mask\x12\x1a\x08\x04\x12\x08\x12\x02\x08\x04\x12\x02\x08\x03"\x0c'
    + bytes(12)
    + b"\x12\x13\n\x03ids\x12\x0c\x08\x03\x12\x08\x12\x00\x08\x04\x12\x02\x08\x03"
)
def test_grpc_raw_bytes(channel, side, shadow, data):
    """Raw, truncated and corrupted request bytes: a clear error or grpcio's parse error."""
    call = channel.unary_unary(PREDICT)
    try:
        reply = call(data, timeout=TIMEOUT)
    except grpc.RpcError as error:
        record("grpc_raw_bytes", error.code().name, error.details() or "")
        if (error.code(), error.details()) == INFERENCE_ERROR:
            request = predict_pb2.PredictRequest.FromString(data)
            assert dynamic_dims_conflict(request), "an inference error for valid input"
        elif (error.code(), error.details()) != GRPCIO_DESERIALIZE:
            assert_clear_grpc_error(error.code(), error.details() or "")
        return
    record("grpc_raw_bytes", None)
    response = predict_pb2.PredictResponse.FromString(reply)
    with np.errstate(all="ignore"):
        check_success(shadow, predict_pb2.PredictRequest.FromString(data), response)


# --- REST properties ------------------------------------------------------------------------


def rest_columns(body: bytes, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The named inputs of a REST body, column (`inputs`) or row (`instances`) format; a model
    with one input may send its value bare, without the name."""
    document = json.loads(body)
    if "inputs" in document:
        columns = document["inputs"]
    else:
        rows = document["instances"]
        bare = len(names) == 1 and not isinstance(rows[0], dict)
        columns = rows if bare else {n: [row[n] for row in rows] for n in names}
    if not isinstance(columns, dict):
        columns = {names[0]: columns}
    return {n: np.array(columns[n]) for n in names}


def rest_outputs(document: dict[str, Any], names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The named outputs of a REST answer (`outputs`, or per-row `predictions`)."""
    if "outputs" in document:
        outputs = document["outputs"]
        return (
            {n: np.array(outputs[n]) for n in names}
            if len(names) > 1
            else {names[0]: np.array(outputs)}
        )
    rows = document["predictions"]
    if len(names) == 1:
        return {names[0]: np.array(rows)}
    return {n: np.array([row[n] for row in rows]) for n in names}


def check_rest_success(shadow: ShadowSequences, model: str, body: bytes, document: Any) -> None:
    """A REST success is for a served model, and its outputs are computed from its inputs."""
    assert model in fuzz.SERVED, model
    assert isinstance(document, dict) and len(document) == 1, document
    assert {"outputs"} == set(document) or {"predictions"} == set(document), document
    with np.errstate(all="ignore"):  # JSON numbers cast as the server casts them
        if model == fuzz.DUMMY_MODEL:
            b = rest_columns(body, ("b",))["b"].astype(np.float32)
            got = rest_outputs(document, ("a",))["a"].astype(np.float32)
            assert_float_result(got, lambda f: f(f(b) + np.float32(1)))
            return
        if model == fuzz.DYNAMIC_MODEL:
            given = rest_columns(body, ("ids", "mask", "scale"))
            got = rest_outputs(document, ("sum", "scaled"))
            ids, mask = given["ids"].astype(np.int32), given["mask"].astype(np.uint8)
            np.testing.assert_array_equal(got["sum"], ids + mask.astype(np.int32))
            scaled = given["scale"].astype(np.float16) * np.float16(2)
            np.testing.assert_array_equal(got["scaled"].astype(np.float16), scaled)
            return
    inputs, outputs = json.loads(body)["inputs"], document["outputs"]
    assert set(outputs) == {"y", "sequence_id"}, outputs
    with np.errstate(all="ignore"):
        x = np.array(inputs["x"]).astype(np.float32).reshape(-1)[0]
    y = np.array(outputs["y"], np.float32)
    assert y.shape == (1, 1), y
    requested = inputs.get("sequence_id", [0])[0]
    control = inputs.get("sequence_control_input", [0])[0]
    shadow.step(requested, control, outputs["sequence_id"][0], x, y[0, 0])


def rest_dims_conflict(model: str, body: bytes) -> bool:
    """True when a REST body gives `dyn` ids and mask whose shapes cannot be added."""
    if model != fuzz.DYNAMIC_MODEL:
        return False
    document = json.loads(body)
    columns = document.get("inputs") if isinstance(document, dict) else None
    if not isinstance(columns, dict):
        rows = document["instances"]
        columns = {n: [row[n] for row in rows] for n in ("ids", "mask")}
    try:
        shapes = [np.array(columns[n]).shape for n in ("ids", "mask")]
    except ValueError:  # ragged lists: the server must refuse them itself
        return False
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        return True
    return False


def check_rest(
    server: launcher.ServerHandle,
    shadow: ShadowSequences,
    prop: str,
    model: str,
    path: str,
    body: bytes,
) -> None:
    """POST and check: 200 with outputs/predictions, or 4xx (503: limit) with a clear error."""
    status, content_type, raw = rest_call(server, path, body)
    assert content_type == "application/json", (status, content_type)
    document = json.loads(raw)
    if status == 200:
        record(prop, None)
        version = re.search(r"/versions/([^/:]*)", path)
        assert version is None or int(version[1]) in (0, 1), path  # only version 1 is served
        check_rest_success(shadow, model, body, document)
        return
    record(prop, str(status), str(document.get("error", "")) if isinstance(document, dict) else "")
    if status == 500 and document == {"error": INFERENCE_ERROR[1]}:
        assert rest_dims_conflict(model, body), "an inference error for valid input"
        return
    assert isinstance(document, dict) and set(document) == {"error"}, document
    message = document["error"]
    assert isinstance(message, str) and message and in_catalogue(message), (status, message)
    assert status == expected_codes(message)[1], (status, message)


def predict_path(model: str, version: str | None = None) -> str:
    """`/v1/models/{name}[/versions/{v}]:predict`, the name URL-encoded."""
    name = urllib.parse.quote(model, safe="")
    suffix = "" if version is None else f"/versions/{version}"
    return f"/v1/models/{name}{suffix}:predict"


@fuzz_settings
@given(model=st.sampled_from(fuzz.SERVED), document=fuzz.JSON_VALUES, wrap=st.integers(0, 2))
def test_rest_random_json(server, side, shadow, model, document, wrap):
    """Random JSON documents as predict bodies (bare, or under inputs/instances): clear errors."""
    wrapped = document if wrap == 0 else {("inputs", "instances")[wrap - 1]: document}
    body = json.dumps(wrapped).encode()
    check_rest(server, shadow, "rest_random_json", model, predict_path(model), body)


@fuzz_settings
@given(case=fuzz.rest_mutated_bodies())
def test_rest_mutated_bodies(server, side, shadow, case):
    """Valid bodies with one thing changed: a success or a clear error."""
    model, body = case
    check_rest(server, shadow, "rest_mutated_bodies", model, predict_path(model), body)


@fuzz_settings
@given(case=fuzz.rest_raw_bodies())
def test_rest_raw_bodies(server, side, shadow, case):
    """Truncated bodies, invalid UTF-8 and random bytes: a clear error."""
    model, body = case
    check_rest(server, shadow, "rest_raw_bodies", model, predict_path(model), body)


@fuzz_settings
@given(target=fuzz.url_paths(), raw_name=st.booleans())
def test_rest_url_paths(server, side, shadow, target, raw_name):
    """Model names and versions in the URL (encoded or, when printable, as they are)."""
    name, version = target
    path = predict_path(name, version)
    if raw_name and name.isprintable() and name.isascii() and " " not in name and name:
        path = path.replace(urllib.parse.quote(name, safe=""), name, 1)
    body = json.dumps({"inputs": {"b": [[0.5] * 10]}}).encode()
    check_rest(server, shadow, "rest_url_paths", name, path, body)


# --- regression tests and the end-of-module checks --------------------------------------------


def test_grpcio_answers_unparsable_bytes_itself(channel):
    """Bytes that are not a PredictRequest never reach the handler: grpcio answers INTERNAL."""
    with pytest.raises(grpc.RpcError) as caught:
        channel.unary_unary(PREDICT)(b"\x0a\x05ab", timeout=TIMEOUT)
    assert (caught.value.code(), caught.value.details()) == GRPCIO_DESERIALIZE


def test_typed_fields_wrap_like_tensorflow(channel):
    """int_val / half_val values outside the element type wrap (a C cast), as TensorFlow does."""
    ids = tensor_with_content(DT_INT32, (1, 3), b"")
    ids.int_val.extend([1, -(2**31), 2**31 - 1])
    mask = tensor_with_content(DT_UINT8, (1, 3), b"")
    mask.int_val.extend([300, -1, 256])
    scale = tensor_with_content(DT_HALF, (1,), b"")
    scale.half_val.append(0x3C00 + 0x10000)  # 1.0 plus a bit beyond uint16
    response = predict(channel, fuzz.dynamic_request(ids, mask, scale), TIMEOUT)
    ids = np.array([[1, -(2**31), 2**31 - 1]], np.int32)
    mask = np.array([[300, -1, 256]], np.int64).astype(np.uint8).astype(np.int32)
    np.testing.assert_array_equal(output(response, "sum"), ids + mask)
    np.testing.assert_array_equal(output(response, "scaled"), np.array([2.0], np.float16))


def test_empty_tensor_with_unaddressable_dims_is_invalid_shape(channel):
    """Regression: ids (0, 2**62) has no elements, so it passed the content-size check; numpy
    then refused the shape (`array is too big`: 2**64 bytes), which escaped as INTERNAL."""
    request = fuzz.dynamic_request(
        tensor_with_content(DT_INT32, (0, 2**62), b""),
        tensor_with_content(DT_UINT8, (1, 3), bytes(3)),
    )
    code, details = predict_error(channel, request, TIMEOUT)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details == (
        f"Invalid input shape - Expected: (-1,-1); Actual: (0,{2**62}); input name: ids"
    )


def test_dynamic_dims_that_disagree_get_the_ovms_inference_error(channel):
    """ids [2,3] + mask [3,3] only fails inside OpenVINO: INTERNAL `Internal inference error`,
    as OVMS answers (OV_INTERNAL_INFERENCE_ERROR); the model keeps serving afterwards."""
    request = fuzz.dynamic_request(
        tensor_with_content(DT_INT32, (2, 3), bytes(24)),
        tensor_with_content(DT_UINT8, (3, 3), bytes(9)),
    )
    assert dynamic_dims_conflict(request)
    assert predict_error(channel, request, TIMEOUT) == INFERENCE_ERROR
    ids = np.arange(9, dtype=np.int32).reshape(3, 3)
    request.inputs["ids"].CopyFrom(tensor_with_content(DT_INT32, (3, 3), ids.tobytes()))
    response = predict(channel, request, TIMEOUT)
    np.testing.assert_array_equal(output(response, "sum"), ids)


def test_subnormal_inputs_are_checked_with_or_without_flush_to_zero(server):
    """Found by the soak (seed 2514588941): a START of 2.48e-43 came back as 0.0 once."""
    shadow = ShadowSequences()
    for control, value in ((1, 2.48e-43), (0, 1e-39), (2, -2.48e-43)):
        # 2**40 + 1: outside the ids the strategies draw.
        body = {"inputs": summator_rest_inputs(value, 2**40 + 1, control)}
        path = predict_path(fuzz.FUZZ_MODEL)
        check_rest(server, shadow, "regression", fuzz.FUZZ_MODEL, path, json.dumps(body).encode())
    assert shadow.checked == 3


def test_rest_deeply_nested_json_is_a_clear_error(server):
    """A body nested 100000 levels deep is invalid JSON to the server, not an internal error."""
    body = b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    status, _, raw = rest_call(server, predict_path(fuzz.DUMMY_MODEL), body)
    assert (status, json.loads(raw)) == (400, {"error": "The file is not valid json"})


def test_rest_version_with_5000_digits_is_a_clear_error(server):
    """A version number too long for int() does not match the URL pattern: a clear 404."""
    body = json.dumps({"inputs": {"b": [[0.0] * 10]}}).encode()
    status, _, raw = rest_call(server, predict_path(fuzz.DUMMY_MODEL, "9" * 5000), body)
    assert (status, json.loads(raw)) == (404, {"error": "Invalid request URL"})


def test_valid_request_after_an_inference_error_succeeds(channel):
    """Found by the soak: after ids (2,3) + mask (2,4) fails inside OpenVINO, the same valid
    request that worked just before fails too, until other shapes come along."""
    ids = np.arange(6, dtype=np.int32).reshape(2, 3)

    def dyn_request(mask_shape: tuple[int, int]) -> predict_pb2.PredictRequest:
        mask = bytes(mask_shape[0] * mask_shape[1])
        return fuzz.dynamic_request(
            tensor_with_content(DT_INT32, (2, 3), ids.tobytes()),
            tensor_with_content(DT_UINT8, mask_shape, mask),
        )

    predict(channel, dyn_request((2, 3)), TIMEOUT)
    assert predict_error(channel, dyn_request((2, 4)), TIMEOUT) == INFERENCE_ERROR
    response = predict(channel, dyn_request((2, 3)), TIMEOUT)
    np.testing.assert_array_equal(output(response, "sum"), ids)


def test_finally_the_side_sequences_were_exact_and_the_server_is_healthy(server, side, shadow):
    """Runs last: the side sequences saw no error and no wrong sum; the server is healthy."""
    side.stop()
    print(f"\nside sequences: {side.steps} steps, completed {dict(side.completed)}")
    print(f"fuzz-model steps checked: {shadow.checked}")
    assert side.errors == []
    assert side.mismatches == []
    assert side.steps > 0 and side.completed["grpc"] > 0 and side.completed["rest"] > 0
    assert server.is_running()
    log = server.log_text()
    assert "Traceback" not in log
    assert "Unexpected error" not in log
