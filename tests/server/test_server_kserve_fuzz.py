"""Property-based fuzzing of KServe v2 ModelInfer (gRPC and REST): clear errors, exact results.

Built like test_server_fuzz.py and sharing its settings: bounded and reproducible by default
(derandomized); a soak run sets FUZZ_EXAMPLES (examples per property; random seed, printed, or
FUZZ_SEED to replay) and FUZZ_REPORT (a file that gets one JSON line per property with the
cases tried and the errors by code). The server runs with `--kserve_sequence_extension`; side
sequences (TFS gRPC and REST, KServe gRPC and REST) run beside the fuzzing and must stay exact.
"""

import http.client
import json
import math
import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from tritonclient.grpc import service_pb2

from helpers.models.summator import build_stateless_summator, build_summator
from helpers.serving import launcher
from tests.server.support import kserve_fuzz as kf
from tests.server.support.models import build_dummy
from tests.server.support.servers import serve_repository
from tests.server.test_server_fuzz import (
    SEED,
    SIDE_SEQUENCES,
    SOAK,
    TIMEOUT,
    ShadowSequences,
    SideSequences,
    assert_float_result,
    fuzz_settings,
)

MODEL_INFER = "/inference.GRPCInferenceService/ModelInfer"
STREAM_INFER = "/inference.GRPCInferenceService/ModelStreamInfer"
HEADER = "Inference-Header-Content-Length"
TINY = np.finfo(np.float32).tiny  # the smallest normal float32
STATS = kf.FuzzStats()
OUTPUTS = {kf.FUZZ_MODEL: ("y",), kf.DUMMY_MODEL: ("a",), kf.TWIN_MODEL: ("state_out", "y")}

FUZZ_SERVER_MODELS: list[dict[str, object]] = [
    {
        "name": kf.FUZZ_MODEL,
        "base_path": "summator",
        "stateful": True,
        "idle_sequence_cleanup": False,
        "max_sequence_number": 1_000_000,
    },
    {
        "name": kf.SIDE_MODEL,
        "base_path": "summator",
        "stateful": True,
        "idle_sequence_cleanup": False,
        "max_sequence_number": 4 * SIDE_SEQUENCES,
    },
    {"name": kf.DUMMY_MODEL},
    {"name": kf.TWIN_MODEL},
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[launcher.ServerHandle]:
    """This module's server: summator (two names), dummy and twin; the sequence extension on."""
    models = {
        "summator": build_summator(),
        kf.DUMMY_MODEL: build_dummy(),
        kf.TWIN_MODEL: build_stateless_summator(),
    }
    with serve_repository(
        tmp_path_factory.mktemp("kserve_fuzz_repo"),
        models,
        FUZZ_SERVER_MODELS,
        file_poll_seconds=0,
        extra_args=["--kserve_sequence_extension"],
    ) as handle:
        yield handle


@pytest.fixture(scope="module")
def channel(server: launcher.ServerHandle) -> Iterator[grpc.Channel]:
    """The fuzzer's gRPC channel."""
    with grpc.insecure_channel(server.grpc_address) as chan:
        yield chan


def http_call(
    server: launcher.ServerHandle,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection: (status, lower-case headers, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=TIMEOUT)
    try:
        connection.request(method, path, body, headers or {})
        response = connection.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        connection.close()


def kserve_grpc_step(
    channel: grpc.Channel, model: str, x: float, parameters: dict[str, Any]
) -> service_pb2.ModelInferResponse:
    """One KServe gRPC summator step (x raw) with these request parameters."""
    request = service_pb2.ModelInferRequest(model_name=model)
    request.inputs.add(name="x", datatype="FP32", shape=[1, 1])
    request.raw_input_contents.append(np.array([[x]], np.float32).tobytes())
    for key, value in parameters.items():
        kf.set_parameter(request.parameters[key], value)
    call = channel.unary_unary(
        MODEL_INFER,
        request_serializer=service_pb2.ModelInferRequest.SerializeToString,
        response_deserializer=service_pb2.ModelInferResponse.FromString,
    )
    return call(request, timeout=TIMEOUT)


def echoed_id(parameters: Any) -> int | str | None:
    """The sequence_id response parameter of a gRPC response (int or string), or None."""
    if "sequence_id" not in parameters:
        return None
    parameter = parameters["sequence_id"]
    return getattr(parameter, parameter.WhichOneof("parameter_choice"))


class KServeSideSequences(SideSequences):
    """test_server_fuzz's side sequences, over TFS gRPC and REST and KServe gRPC and REST."""

    # (transport, slot): an even slot lets the server pick the id (TFS) or uses a string id.
    PLAN = (("grpc", 0), ("rest", 1), ("kserve_grpc", 2), ("kserve_rest", 3))
    PLAN += (("grpc", 5), ("rest", 4), ("kserve_grpc", 7), ("kserve_rest", 6))

    def __init__(self, server: launcher.ServerHandle, channel: grpc.Channel) -> None:
        """The TFS side sequences, plus the channel for KServe gRPC and a name counter."""
        super().__init__(server, channel)
        self.channel = channel
        self.named = 0

    def _step(self, transport: str, sequence_id: int, control: int, x: float) -> tuple[float, int]:
        """One request; KServe names a fresh string sequence where TFS would send id 0."""
        if not transport.startswith("kserve"):
            return super()._step(transport, sequence_id, control, x)
        if sequence_id == 0:
            self.named += 1
            sequence_id = f"side-{self.named}"  # type: ignore[assignment]
        parameters = {"sequence_id": sequence_id}
        parameters.update({"sequence_start": True} if control == 1 else {})
        parameters.update({"sequence_end": True} if control == 2 else {})
        if transport == "kserve_grpc":
            response = kserve_grpc_step(self.channel, kf.SIDE_MODEL, x, parameters)
            y = np.frombuffer(response.raw_output_contents[0], np.float32)
            return float(y[0]), echoed_id(response.parameters)  # type: ignore[return-value]
        tensor = {"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [x]}
        body = json.dumps({"parameters": parameters, "inputs": [tensor]}).encode()
        status, _, raw = http_call(self.server, "POST", kf.infer_path(kf.SIDE_MODEL), body)
        if status != 200:
            raise RuntimeError(f"KServe REST {status}: {raw[:200]!r}")
        document = json.loads(raw)
        return float(document["outputs"][0]["data"][0]), document["parameters"]["sequence_id"]

    def _run(self) -> None:
        """Run the plan's sequences in turn until stopped."""
        while not self.stop_event.is_set():
            for transport, slot in self.PLAN:
                try:
                    self._run_sequence(transport, slot)
                except Exception as error:  # any failure here is a finding
                    self.errors.append(f"{transport} slot {slot}: {error!r}")
                if self.stop_event.is_set():
                    return


@pytest.fixture(scope="module")
def side(server: launcher.ServerHandle) -> Iterator[KServeSideSequences]:
    """The side sequences, running for the whole module."""
    with grpc.insecure_channel(server.grpc_address) as chan:
        runner = KServeSideSequences(server, chan)
        runner.thread.start()
        yield runner
        runner.stop()


@pytest.fixture(scope="module", autouse=True)
def fuzz_report() -> Iterator[None]:
    """Print the cases per property and, with FUZZ_REPORT, append them as JSON lines."""
    yield
    if SOAK:
        print(f"\nfuzz seed: {SEED} (replay with FUZZ_SEED={SEED})")
    STATS.report(SEED if SOAK else None)


@pytest.fixture(scope="module")
def shadow(channel: grpc.Channel) -> ShadowSequences:
    """START the pool sequences (ids and names, x = 0) on the fuzz model and track them."""
    tracked = ShadowSequences()
    for sequence_id in (*kf.POOL_INT_IDS, *kf.POOL_NAMES):
        parameters = {"sequence_id": sequence_id, "sequence_start": True}
        response = kserve_grpc_step(channel, kf.FUZZ_MODEL, 0.0, parameters)
        y = np.frombuffer(response.raw_output_contents[0], np.float32)[0]
        tracked.step(sequence_id, 1, echoed_id(response.parameters), np.float32(0), y)
    return tracked


# --- checking one outcome ------------------------------------------------------------------


def sequence_step(
    shadow: ShadowSequences, parameters: dict[str, Any], returned: Any, x: Any, y: Any
) -> None:
    """A fuzz-model success: its parameters were valid, and y is the shadow's running sum."""
    sequence_id = parameters.get("sequence_id")
    start, end = parameters.get("sequence_start", False), parameters.get("sequence_end", False)
    assert type(start) is bool and type(end) is bool, parameters
    if type(sequence_id) is str:
        assert sequence_id, "a success with an empty string id"
    else:
        assert type(sequence_id) is int and 0 < sequence_id <= kf.UINT64_MAX, parameters
    assert returned == sequence_id, (returned, sequence_id)
    if start and end:  # a one-request sequence: y = x, nothing left behind
        assert sequence_id not in shadow.sums, f"START on live id {sequence_id!r}"
        assert_float_result(y, lambda f: f(x))
        shadow.checked += 1
        return
    total = shadow.sums.get(sequence_id)
    if not start and total is not None and 0 < abs(total) < TINY and y == x:
        # Found by the soak (FUZZ_SEED=1913030715): a subnormal state read as zero while the
        # input is kept (y = x); denormal flushing depends on the thread, see the report.
        shadow.checked += 1
        if end:
            del shadow.sums[sequence_id]
        else:
            shadow.sums[sequence_id] = y
        return
    shadow.step(sequence_id, 1 if start else (2 if end else 0), returned, x, y)


def expected_outputs(model: str, inputs: dict[str, np.ndarray]) -> dict[str, Any]:
    """The model's outputs computed by numpy from its inputs, as functions of the flush."""
    if model == kf.DUMMY_MODEL:
        b = inputs["b"]
        return {"a": lambda f: f(f(b) + np.float32(1))}
    x, state = inputs["x"], inputs["state_in"]
    return {name: (lambda f: f(f(x) + f(state))) for name in ("state_out", "y")}


def check_outputs(
    shadow: ShadowSequences,
    model: str,
    inputs: dict[str, np.ndarray],
    outputs: dict[str, np.ndarray],
    parameters: dict[str, Any],
    returned: Any,
) -> None:
    """The outputs of a success are those of the model for these inputs (and sequence)."""
    assert model in kf.SERVED, f"a success for model {model!r}"
    assert sorted(inputs) == sorted(kf.INPUTS[model]), sorted(inputs)
    for name, array in inputs.items():
        assert array.shape == kf.INPUTS[model][name], (name, array.shape)
    assert list(outputs) == list(OUTPUTS[model]), list(outputs)
    if model == kf.FUZZ_MODEL:
        assert outputs["y"].shape == (1, 1)
        sequence_step(shadow, parameters, returned, inputs["x"][0, 0], outputs["y"][0, 0])
        return
    assert returned is None, f"a stateless model returned sequence_id {returned!r}"
    for name, compute in expected_outputs(model, inputs).items():
        assert outputs[name].shape == kf.INPUTS[model][next(iter(kf.INPUTS[model]))]
        assert_float_result(outputs[name], compute)


def grpc_parameters(request: service_pb2.ModelInferRequest) -> dict[str, Any]:
    """The request parameters as Python values (of their set field)."""
    return {key: echoed_id({"sequence_id": p}) for key, p in request.parameters.items()}


def check_grpc_success(
    shadow: ShadowSequences,
    request: service_pb2.ModelInferRequest,
    response: service_pb2.ModelInferResponse,
) -> None:
    """A ModelInfer success: a served model, version 1, outputs computed from the inputs."""
    assert request.model_version in ("", "0", "1"), request.model_version
    assert (response.model_name, response.model_version) == (request.model_name, "1")
    assert response.id == request.id
    first = {}
    for index, tensor in enumerate(request.inputs):
        assert tensor.datatype == "FP32", tensor.datatype
        if request.raw_input_contents:
            values = np.frombuffer(request.raw_input_contents[index], "<f4")
        else:
            values = np.array(tensor.contents.fp32_contents, np.float32)
        first.setdefault(tensor.name, values.reshape(tuple(tensor.shape)))
    assert len(first) == len(request.inputs), "duplicate input names succeeded"
    assert len(response.raw_output_contents) == len(response.outputs)
    outputs = {}
    for tensor, raw in zip(response.outputs, response.raw_output_contents, strict=True):
        assert tensor.datatype == "FP32", tensor.datatype
        outputs[tensor.name] = np.frombuffer(raw, "<f4").reshape(tuple(tensor.shape))
    returned = echoed_id(response.parameters)
    check_outputs(shadow, request.model_name, first, outputs, grpc_parameters(request), returned)


def check_grpc_error(
    server: launcher.ServerHandle, request: Any, code: grpc.StatusCode, details: str
) -> None:
    """A clear gRPC error: a catalogue message with its code; UNKNOWN only for BYTES inputs."""
    assert details, f"empty details for {code}"
    assert code != grpc.StatusCode.INTERNAL, f"INTERNAL for bad input: {details!r}"
    known = kf.known_message(details)
    assert known is not None, f"{code}: {details!r} is not a catalogue message"
    assert code == kf.CATALOGUE[known][0], f"{code}: {details!r}"
    if code == grpc.StatusCode.UNKNOWN:  # OVMS's answer to NOT_IMPLEMENTED (a BYTES input)
        assert "Unexpected error" not in server.log_text(), "an exception answered UNKNOWN"
        assert any(t.datatype == "BYTES" for t in request.inputs), "UNKNOWN without BYTES"


def send_grpc(
    server: launcher.ServerHandle,
    channel: grpc.Channel,
    shadow: ShadowSequences,
    prop: str,
    data: bytes,
) -> None:
    """Send request bytes to ModelInfer and check: a sane success or a clear error."""
    try:
        reply = channel.unary_unary(MODEL_INFER)(data, timeout=TIMEOUT)
    except grpc.RpcError as error:
        code, details = error.code(), error.details() or ""
        STATS.record(prop, code.name, details)
        if (code, details) == kf.GRPCIO_DESERIALIZE:
            with pytest.raises(Exception, match=r"Error parsing message|Unexpected end"):
                service_pb2.ModelInferRequest.FromString(data)
            return
        check_grpc_error(server, service_pb2.ModelInferRequest.FromString(data), code, details)
        return
    STATS.record(prop, None)
    request = service_pb2.ModelInferRequest.FromString(data)
    with np.errstate(all="ignore"):
        check_grpc_success(shadow, request, service_pb2.ModelInferResponse.FromString(reply))


# --- gRPC properties -------------------------------------------------------------------------


@fuzz_settings
@given(request=kf.grpc_noise_requests())
def test_grpc_random_requests(server, channel, side, shadow, request):
    """Random ModelInferRequests: a success or a clear error."""
    send_grpc(server, channel, shadow, "grpc_random_requests", request.SerializeToString())


@fuzz_settings
@given(request=kf.grpc_mutated_requests())
def test_grpc_mutated_requests(server, channel, side, shadow, request):
    """Valid requests with one thing changed: a success or a clear error."""
    send_grpc(server, channel, shadow, "grpc_mutated_requests", request.SerializeToString())


@fuzz_settings
@given(data=kf.grpc_raw_bytes())
@example(data=b"\xff\xff\xff")
@example(data=b"")
def test_grpc_raw_bytes(server, channel, side, shadow, data):
    """Raw, truncated and corrupted request bytes: a clear error or grpcio's parse error."""
    send_grpc(server, channel, shadow, "grpc_raw_bytes", data)


@fuzz_settings
@given(requests=st.lists(kf.grpc_mutated_requests(), min_size=1, max_size=4))
def test_grpc_stream_requests(server, channel, side, shadow, requests):
    """Mutated requests over one ModelStreamInfer stream (ours): one reply each, in order, a
    sane success or a catalogue message in `error_message` with the request's id; the stream
    stays open after an error."""
    call = channel.stream_stream(
        STREAM_INFER,
        request_serializer=service_pb2.ModelInferRequest.SerializeToString,
        response_deserializer=service_pb2.ModelStreamInferResponse.FromString,
    )
    replies = list(call(iter(requests), timeout=TIMEOUT))
    assert len(replies) == len(requests)
    for request, reply in zip(requests, replies, strict=True):
        assert reply.infer_response.id == request.id
        message = reply.error_message
        if message:
            STATS.record("grpc_stream_requests", "error_message", message)
            known = kf.known_message(message)
            assert known is not None, f"{message!r} is not a catalogue message"
            assert kf.CATALOGUE[known][0] != grpc.StatusCode.INTERNAL, message
            if known == "Unknown error":
                assert any(t.datatype == "BYTES" for t in request.inputs), "UNKNOWN without BYTES"
            continue
        STATS.record("grpc_stream_requests", None)
        with np.errstate(all="ignore"):
            check_grpc_success(shadow, request, reply.infer_response)


# --- REST: checking one answer -----------------------------------------------------------


def flat(data: Any) -> list[Any]:
    """A JSON `data` value flattened in order."""
    return [v for item in data for v in flat(item)] if isinstance(data, list) else [data]


def request_document(body: bytes, length: str | None) -> Any:
    """The JSON part of a request body as the server reads it (up to a NUL; bad UTF-8 as U+FFFD)."""
    head = body if length is None else body[: int(length)]
    return json.loads(head.split(b"\0", 1)[0].decode("utf-8", "replace"))


def rest_inputs(document: dict[str, Any], tail: bytes) -> dict[str, np.ndarray]:
    """The FP32 inputs of a body: JSON `data`, else the next bytes of the binary part."""
    inputs: dict[str, np.ndarray] = {}
    offset = 0
    for tensor in document["inputs"]:
        assert tensor["datatype"] == "FP32", tensor
        values = flat(tensor.get("data", []))
        if values:
            array = np.array(values, np.float32)
        else:
            size = tensor.get("parameters", {}).get(
                "binary_data_size", 4 * math.prod(tensor["shape"])
            )
            array = np.frombuffer(tail[offset : offset + size], "<f4")
            offset += size
        inputs.setdefault(tensor["name"], array.reshape(tuple(tensor["shape"])))
    assert len(inputs) == len(document["inputs"]), "duplicate input names succeeded"
    return inputs


def rest_outputs(headers: dict[str, str], raw: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """(response document, outputs by name): JSON data, or binary after the JSON."""
    length = headers.get(HEADER.lower())
    document = json.loads(raw if length is None else raw[: int(length)])
    tail = b"" if length is None else raw[int(length) :]
    outputs, offset = {}, 0
    for tensor in document["outputs"]:
        assert tensor["datatype"] == "FP32", tensor
        shape = tuple(tensor["shape"])
        if "data" in tensor:
            outputs[tensor["name"]] = np.array(tensor["data"], np.float32).reshape(shape)
        else:
            size = tensor["parameters"]["binary_data_size"]
            chunk = tail[offset : offset + size]
            outputs[tensor["name"]] = np.frombuffer(chunk, "<f4").reshape(shape)
            offset += size
    assert offset == len(tail), "binary bytes beyond the outputs"
    return document, outputs


def check_rest_success(
    shadow: ShadowSequences,
    model: str,
    body: bytes,
    length: str | None,
    headers: dict[str, str],
    raw: bytes,
) -> None:
    """An infer success: the request was for a served model; outputs computed from the inputs."""
    document = request_document(body, length)
    tail = b"" if length is None else body[int(length) :]
    inputs = rest_inputs(document, tail)
    answer, outputs = rest_outputs(headers, raw)
    assert (answer["model_name"], answer["model_version"]) == (model, "1"), answer
    # OVMS writes the id as a C string: it ends at its first NUL.
    assert answer.get("id", "") == document.get("id", "").split("\0", 1)[0], answer
    returned = answer.get("parameters", {}).get("sequence_id")
    check_outputs(shadow, model, inputs, outputs, document.get("parameters", {}), returned)


def check_rest_error(status: int, headers: dict[str, str], raw: bytes) -> str:
    """A clear REST error: compact `{"error":...}` with a catalogue message and its status."""
    assert raw.startswith(b'{"error":"'), (status, raw[:200])
    document = json.loads(raw)
    assert set(document) == {"error"}, document
    message = document["error"]
    assert isinstance(message, str) and message, (status, raw)
    known = kf.known_message(message)
    assert known is not None, f"{status}: {message!r} is not a catalogue message"
    assert status == kf.CATALOGUE[known][1], (status, message)
    return message


def check_infer(
    server: launcher.ServerHandle,
    shadow: ShadowSequences,
    prop: str,
    model: str,
    body: bytes,
    length: str | None = None,
    path: str | None = None,
) -> None:
    """POST an infer body and check: 200 with the right outputs, or a clear error."""
    headers = {"Content-Type": "application/json"}
    if length is not None:
        headers[HEADER] = length
    status, answer_headers, raw = http_call(
        server, "POST", path or kf.infer_path(model), body, headers
    )
    assert answer_headers.get("content-type") == "application/json", answer_headers
    if status == 200:
        STATS.record(prop, None)
        with np.errstate(all="ignore"):
            check_rest_success(shadow, model, body, length, answer_headers, raw)
        return
    document = json.loads(raw) if raw.startswith(b"{") else {}
    STATS.record(prop, str(status), str(document.get("error", raw[:60])))
    check_rest_error(status, answer_headers, raw)


# --- REST properties -------------------------------------------------------------------------


@fuzz_settings
@given(model=st.sampled_from(kf.SERVED), document=kf.fuzz.JSON_VALUES, wrap=st.integers(0, 3))
def test_rest_random_json(server, side, shadow, model, document, wrap):
    """Random JSON documents as infer bodies (bare, as inputs, one input or parameters)."""
    wrapped = [document, {"inputs": document}, {"inputs": [document]}, {"parameters": document}]
    body = json.dumps(wrapped[wrap]).encode()
    check_infer(server, shadow, "rest_random_json", model, body)


@fuzz_settings
@given(case=kf.rest_mutated_documents())
def test_rest_mutated_bodies(server, side, shadow, case):
    """Valid JSON bodies with one thing changed: a success or a clear error."""
    model, document = case
    check_infer(server, shadow, "rest_mutated_bodies", model, json.dumps(document).encode())


@fuzz_settings
@given(case=kf.rest_binary_bodies())
def test_rest_binary_bodies(server, side, shadow, case):
    """Binary data extension: header lengths and binary_data_size right, wrong or odd."""
    model, body, length = case
    check_infer(server, shadow, "rest_binary_bodies", model, body, length)


@fuzz_settings
@given(case=kf.rest_raw_bodies())
def test_rest_raw_bodies(server, side, shadow, case):
    """Truncated bodies, invalid UTF-8, NULs, deep nesting and random bytes: a clear error."""
    model, body = case
    check_infer(server, shadow, "rest_raw_bodies", model, body)


MODEL_PATH = re.compile(r"/v2/models/([^/]+)(?:/versions/([0-9]+))?(/ready|/infer|/?)")


def check_route_success(
    shadow: ShadowSequences, method: str, path: str, body: bytes, raw: bytes
) -> None:
    """A 200 under /v2 is one of KServe's routes, for a served model and version 1."""
    route = path.split("?", 1)[0]
    if method == "OPTIONS" or (
        method == "GET" and route in ("/v2/health/live", "/v2/health/ready")
    ):
        assert raw == b"", raw[:100]
        return
    if method == "GET" and route == "/v2":
        assert json.loads(raw)["name"] == "OpenVINO Model Server"
        return
    match = MODEL_PATH.fullmatch(route)
    assert match is not None, f"{method} {path} answered 200"
    name, version, action = urllib.parse.unquote(match[1]), match[2], match[3]
    if action == "/infer":
        assert method == "POST" and name == kf.DUMMY_MODEL, (method, path)
        assert version is None or int(version) in (0, 1), path
        return  # the outputs are checked by the caller
    assert method == "GET" and name in (*kf.SERVED, kf.SIDE_MODEL), (method, path)
    assert version is None or int(version) == 1, path
    if action == "/ready":
        assert raw == b""
    else:
        assert json.loads(raw)["name"] == name


@fuzz_settings
@given(method=kf.METHODS, path=kf.v2_paths(), with_body=st.booleans())
@example(method="GET", path="/v2/models/dummy/versions/1", with_body=False)
@example(method="POST", path="/v2/models/dummy/versions/0/infer", with_body=True)
def test_rest_paths_and_methods(server, side, shadow, method, path, with_body):
    """Random paths under /v2 with any method: a route's answer or a clear error."""
    b = np.linspace(-2, 2, 10, dtype=np.float32)
    tensor = {"name": "b", "shape": [1, 10], "datatype": "FP32", "data": b.tolist()}
    body = json.dumps({"inputs": [tensor]}).encode() if with_body else None
    status, headers, raw = http_call(server, method, path, body)
    assert headers.get("content-type") == "application/json", (status, headers)
    if status == 200:
        STATS.record("rest_paths_and_methods", None)
        check_route_success(shadow, method, path, body or b"", raw)
        if method == "POST":
            answer, outputs = rest_outputs(headers, raw)
            assert answer["model_name"] == kf.DUMMY_MODEL
            np.testing.assert_array_equal(outputs["a"], (b + np.float32(1)).reshape(1, 10))
        return
    message = json.loads(raw).get("error", "") if raw else ""
    STATS.record("rest_paths_and_methods", str(status), message)
    if method != "HEAD":  # a HEAD answer has no body
        check_rest_error(status, headers, raw)


# --- the end-of-module check -------------------------------------------------------------------


def test_finally_the_side_sequences_were_exact_and_the_server_is_healthy(server, side, shadow):
    """Runs last: the side sequences saw no error and no wrong sum; the server is healthy."""
    side.stop()
    print(f"\nside sequences: {side.steps} steps, completed {dict(side.completed)}")
    print(f"fuzz-model steps checked: {shadow.checked}")
    assert side.errors == []
    assert side.mismatches == []
    for transport in ("grpc", "rest", "kserve_grpc", "kserve_rest"):
        assert side.completed[transport] > 0, dict(side.completed)
    assert server.is_running()
    log = server.log_text()
    assert "Traceback" not in log
    assert "Unexpected error" not in log
