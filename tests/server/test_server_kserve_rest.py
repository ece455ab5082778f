"""KServe v2 REST against the server process: tritonclient.http as the client, raw HTTP for the
exact routes, status codes and bytes, and the sequence extension's stateful flow.

Expected values come from numpy (the twin adds its inputs, the summator keeps a running sum),
the models as built here, OVMS's messages (status.cpp) and the gRPC KServe API of the same server.
"""

import http.client
import json
import socket
import threading

import numpy as np
import pytest
import rapidjson
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from helpers.models.summator import build_stateless_summator, build_summator
from tests.server.support.http import LOOPBACK, parse_responses, read_until_closed
from tests.server.support.models import build_dummy, build_dynamic_model
from tests.server.support.servers import serve_repository

TWIN = "twin"  # the stateless summator: y = state_out = x + state_in, each f32 [1,1]
EXTENDED_MODELS: list[dict[str, object]] = [
    {"name": "summator", "stateful": True, "idle_sequence_cleanup": False},
    {"name": TWIN},
    {"name": "dummy"},
    {"name": "dyn"},
]
SEQUENCES = 30
HEADER = "Inference-Header-Content-Length"
NO_DATA = b'{"inputs":[{"name":"b","shape":[1,10],"datatype":"FP32"}]}'  # its data: binary
STEPS = 6


@pytest.fixture(scope="module")
def extended(tmp_path_factory):
    """A server with the KServe sequence extension: a stateful summator and stateless models."""
    models = {
        "summator": build_summator(),
        TWIN: build_stateless_summator(),
        "dummy": build_dummy(),
        "dyn": build_dynamic_model(),
    }
    with serve_repository(
        tmp_path_factory.mktemp("kserve_rest"),
        models,
        EXTENDED_MODELS,
        file_poll_seconds=0,
        extra_args=["--kserve_sequence_extension"],
    ) as handle:
        yield handle


@pytest.fixture(scope="module")
def client(extended):
    """tritonclient.http on the extended server."""
    triton = httpclient.InferenceServerClient(f"{LOOPBACK}:{extended.rest_port}")
    yield triton
    triton.close()


def call(port, method, path, body=None, headers=None):
    """One raw HTTP exchange: (status, lower-case headers, body bytes)."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        connection.close()


def error_body(message):
    """OVMS's compact error document, written independently of the server (rapidjson's Writer)."""
    return rapidjson.dumps({"error": message}, ensure_ascii=False).encode()


def twin_body(x, state, **extra):
    """A JSON infer body for the twin."""
    inputs = [
        {"name": "x", "shape": [1, 1], "datatype": "FP32", "data": x.tolist()},
        {"name": "state_in", "shape": [1, 1], "datatype": "FP32", "data": state.tolist()},
    ]
    return json.dumps({"inputs": inputs, **extra}).encode()


# --- tritonclient.http ------------------------------------------------------------------


def test_health_and_server_metadata_match_the_grpc_api(client, extended):
    assert client.is_server_live() and client.is_server_ready()
    over_grpc = grpcclient.InferenceServerClient(extended.grpc_address)
    try:
        expected = over_grpc.get_server_metadata(as_json=True)
    finally:
        over_grpc.close()
    metadata = client.get_server_metadata()
    assert metadata == expected
    assert metadata["name"] == "OpenVINO Model Server"


def test_server_metadata_extensions_only_with_the_sequence_extension(main_server, extended):
    """Off (OVMS): no `extensions` field; on: Triton's "sequence" and "sequence(string_id)"."""
    expected = {"name": "OpenVINO Model Server", "version": "2026.2.1.749fc03a"}
    on = {**expected, "extensions": ["sequence", "sequence(string_id)"]}
    for server, document in ((main_server, expected), (extended, on)):
        triton = httpclient.InferenceServerClient(f"{LOOPBACK}:{server.rest_port}")
        try:
            assert triton.get_server_metadata() == document
        finally:
            triton.close()
        status, _, body = call(server.rest_port, "GET", "/v2")
        assert (status, body) == (200, json.dumps(document, separators=(",", ":")).encode())


def test_model_ready_and_metadata(client):
    assert client.is_model_ready(TWIN) and client.is_model_ready(TWIN, "1")
    assert not client.is_model_ready("missing") and not client.is_model_ready(TWIN, "2")
    # build_stateless_summator: inputs x and state_in, outputs y and state_out, all f32 [1, 1].
    model = build_stateless_summator()
    shapes = [list(p.get_partial_shape().to_shape()) for p in (*model.inputs, *model.outputs)]
    assert shapes == [[1, 1]] * 4
    tensors = {
        "inputs": [("x", [1, 1]), ("state_in", [1, 1])],
        "outputs": [("y", [1, 1]), ("state_out", [1, 1])],
    }
    metadata = client.get_model_metadata(TWIN)
    assert list(metadata) == ["name", "versions", "platform", "inputs", "outputs"]
    assert (metadata["name"], metadata["versions"], metadata["platform"]) == (
        TWIN,
        ["1"],
        "OpenVINO",
    )
    for side in ("inputs", "outputs"):
        expected = [{"name": n, "datatype": "FP32", "shape": s} for n, s in sorted(tensors[side])]
        assert metadata[side] == expected


def test_dynamic_dimensions_are_minus_one_and_tensors_sorted_by_name(client):
    # build_dynamic_model: ids i32 [-1,-1], mask u8 [-1,-1], scale f16 [1] -> sum, scaled.
    metadata = client.get_model_metadata("dyn")
    assert metadata["inputs"] == [
        {"name": "ids", "datatype": "INT32", "shape": [-1, -1]},
        {"name": "mask", "datatype": "UINT8", "shape": [-1, -1]},
        {"name": "scale", "datatype": "FP16", "shape": [1]},
    ]
    assert metadata["outputs"] == [
        {"name": "scaled", "datatype": "FP16", "shape": [1]},
        {"name": "sum", "datatype": "INT32", "shape": [-1, -1]},
    ]


def test_fp16_data_must_be_binary_and_an_fp16_output_cannot_be_written(extended):
    ids = np.array([[1, 2, 3]], np.int32)
    mask = np.array([[1, 0, 1]], np.uint8)
    scale = np.array([1.5], np.float16)
    tensors = [
        {"name": "ids", "shape": [1, 3], "datatype": "INT32", "data": ids.tolist()},
        {"name": "mask", "shape": [1, 3], "datatype": "UINT8", "data": mask.tolist()},
    ]
    as_json = {"name": "scale", "shape": [1], "datatype": "FP16", "data": scale.tolist()}
    raw = json.dumps({"inputs": [*tensors, as_json]}).encode()
    status, _, body = call(extended.rest_port, "POST", "/v2/models/dyn/infer", raw)
    assert (status, body) == (
        400,
        error_body("Could not parse input content. Not valid ndarray detected"),
    )
    # All binary (no contents mixed with raw buffers): the run succeeds, the FP16 output is
    # OVMS's unsupported precision (rest_utils.cpp writes no FP16).
    binary = [{k: v for k, v in t.items() if k != "data"} for t in (*tensors, as_json)]
    header = json.dumps({"inputs": binary}).encode()
    data = header + ids.tobytes() + mask.tobytes() + scale.tobytes()
    status, _, body = call(
        extended.rest_port, "POST", "/v2/models/dyn/infer", data, {HEADER: str(len(header))}
    )
    message = "Could not parse input content. Unsupported data precision detected"
    assert (status, body) == (400, error_body(f"{message} - Unsupported precisionFP16"))


def test_metadata_errors_raise_with_ovms_messages(client):
    with pytest.raises(InferenceServerException) as caught:
        client.get_model_metadata("missing")
    assert caught.value.status() == "404"
    assert caught.value.message() == "Model with requested name is not found"


def test_stateless_json_infer_is_numpy_addition(client):
    rng = np.random.default_rng(1)
    x, state = rng.standard_normal((2, 1, 1)).astype(np.float32)
    inputs = [
        httpclient.InferInput("x", [1, 1], "FP32"),
        httpclient.InferInput("state_in", [1, 1], "FP32"),
    ]
    inputs[0].set_data_from_numpy(x, binary_data=False)
    inputs[1].set_data_from_numpy(state, binary_data=False)
    outputs = [httpclient.InferRequestedOutput("y", binary_data=False)]
    result = client.infer(TWIN, inputs, outputs=outputs, request_id="r1")
    assert result.get_response()["id"] == "r1"
    np.testing.assert_array_equal(result.as_numpy("y"), x + state)
    np.testing.assert_array_equal(result.as_numpy("state_out"), x + state)


def test_binary_inputs_and_outputs(client):
    rng = np.random.default_rng(2)
    b = rng.standard_normal((1, 10)).astype(np.float32)
    inputs = [httpclient.InferInput("b", [1, 10], "FP32")]
    inputs[0].set_data_from_numpy(b, binary_data=True)
    outputs = [httpclient.InferRequestedOutput("a", binary_data=True)]
    result = client.infer("dummy", inputs, outputs=outputs)
    assert result.get_output("a")["parameters"] == {"binary_data_size": b.nbytes}
    np.testing.assert_array_equal(result.as_numpy("a"), b + np.float32(1))


def test_without_requested_outputs_every_output_comes_as_json(client):
    # tritonclient then sends binary_data_output; OVMS applies it to listed outputs only.
    x, state = np.array([[2.5]], np.float32), np.array([[-0.75]], np.float32)
    inputs = [
        httpclient.InferInput("x", [1, 1], "FP32"),
        httpclient.InferInput("state_in", [1, 1], "FP32"),
    ]
    inputs[0].set_data_from_numpy(x)
    inputs[1].set_data_from_numpy(state)
    result = client.infer(TWIN, inputs)
    assert [o["data"] for o in result.get_response()["outputs"]] == [
        (x + state).ravel().tolist()
    ] * 2


# --- raw HTTP: routes, methods, codes, bytes ---------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        ("GET", "/v2/health/live", 200, None),
        ("GET", "/v2/health/ready", 200, None),
        ("GET", "/v2/models/twin/ready", 200, None),
        ("GET", "/v2/models/twin/versions/1/ready", 200, None),
        ("OPTIONS", "/v2/models/twin/infer", 200, None),
        ("OPTIONS", "/v2/anything", 200, None),
        ("GET", "/v2/", 400, "Invalid request URL"),
        ("GET", "/v2/health/live/", 400, "Invalid request URL"),
        ("GET", "/v2/models/twin/ready/", 400, "Invalid request URL"),
        ("GET", "/v2/models/twin/infer", 406, "Unsupported method"),
        ("POST", "/v2/models/twin", 406, "Unsupported method"),
        ("POST", "/v2/health/live", 406, "Unsupported method"),
        ("DELETE", "/v2/models/twin", 406, "Unsupported method"),
        ("PUT", "/v2/models/twin/infer", 406, "Unsupported method"),
        ("GET", "/v2/models/missing/ready", 404, "Model with requested name is not found"),
        (
            "GET",
            "/v2/models/twin/versions/2/ready",
            404,
            "Model with requested version is not found",
        ),
        ("GET", "/v2/models/twin/versions/2", 404, "Model with requested version is not found"),
    ],
)
def test_routes_status_and_exact_bodies(extended, method, path, status, message):
    got_status, headers, body = call(extended.rest_port, method, path)
    assert got_status == status
    assert body == (b"" if message is None else error_body(message))
    assert headers["content-type"] == "application/json"


def test_server_metadata_bytes_are_compact_protobuf_json(extended, client):
    status, _, body = call(extended.rest_port, "GET", "/v2")
    metadata = client.get_server_metadata()
    assert status == 200
    assert body == json.dumps(metadata, separators=(",", ":")).encode()


def test_model_metadata_trailing_slash_and_compact_bytes(extended, client):
    status, _, body = call(extended.rest_port, "GET", "/v2/models/twin/")
    assert status == 200
    assert body == rapidjson.dumps(client.get_model_metadata(TWIN), ensure_ascii=False).encode()


def test_infer_response_is_pretty_printed_in_ovms_order(extended):
    x, state = np.array([[0.5]], np.float32), np.array([[1.25]], np.float32)
    raw = twin_body(x, state, id="abc")
    status, headers, body = call(extended.rest_port, "POST", "/v2/models/twin/infer", raw)
    total = (x + state).ravel().tolist()
    expected = {
        "model_name": TWIN,
        "id": "abc",
        "model_version": "1",
        "outputs": [
            {"name": name, "shape": [1, 1], "datatype": "FP32", "data": total}
            for name in ("state_out", "y")
        ],
    }
    mode = rapidjson.WM_PRETTY | rapidjson.WM_SINGLE_LINE_ARRAY
    assert status == 200 and "inference-header-content-length" not in headers
    assert body == rapidjson.dumps(expected, write_mode=mode, indent=4).encode()


def test_binary_output_follows_the_json_with_its_length_header(extended):
    x, state = np.array([[3.0]], np.float32), np.array([[-1.5]], np.float32)
    raw = twin_body(x, state, outputs=[{"name": "y", "parameters": {"binary_data": True}}])
    status, headers, body = call(extended.rest_port, "POST", "/v2/models/twin/infer", raw)
    assert status == 200
    length = int(headers["inference-header-content-length"])
    document = json.loads(body[:length])
    assert body[length:] == (x + state).astype("<f4").tobytes()
    by_name = {o["name"]: o for o in document["outputs"]}
    assert by_name["y"]["parameters"] == {"binary_data_size": 4} and "data" not in by_name["y"]
    assert by_name["state_out"]["data"] == (x + state).ravel().tolist()


def test_binary_inputs_with_header_in_any_case(extended):
    b = np.random.default_rng(4).standard_normal((1, 10)).astype(np.float32)
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "b",
                    "shape": [1, 10],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 40},
                }
            ]
        }
    ).encode()
    for name in ("Inference-Header-Content-Length", "INFERENCE-HEADER-CONTENT-LENGTH"):
        status, _, body = call(
            extended.rest_port,
            "POST",
            "/v2/models/dummy/infer",
            header + b.tobytes(),
            {name: str(len(header))},
        )
        assert status == 200
        assert json.loads(body)["outputs"][0]["data"] == (b + np.float32(1)).ravel().tolist()


def test_chunked_request_body(extended):
    b = np.arange(10, dtype=np.float32).reshape(1, 10)
    raw = json.dumps(
        {"inputs": [{"name": "b", "shape": [1, 10], "datatype": "FP32", "data": b.tolist()}]}
    ).encode()
    pieces = [raw[i : i + 7] for i in range(0, len(raw), 7)]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    request = (
        b"POST /v2/models/dummy/infer HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n" + chunked
    )
    with socket.create_connection((LOOPBACK, extended.rest_port), timeout=30) as sock:
        sock.sendall(request)
        data, _ = read_until_closed(sock)
    (response,) = parse_responses(data)
    assert response.status == 200
    assert response.json()["outputs"][0]["data"] == (b + np.float32(1)).ravel().tolist()


@pytest.mark.parametrize(
    ("raw", "headers", "status", "message"),
    [
        (b'{"inputs":', {}, 412, "The file is not valid json - Error: Invalid value. Offset: 10"),
        (
            b'{"inputs":[1,]}',
            {},
            412,
            "The file is not valid json - Error: Invalid value. Offset: 13",
        ),
        (b"", {}, 412, "The file is not valid json - Error: The document is empty. Offset: 0"),
        (b"[]", {}, 400, "Request body should be JSON object"),
        (b"{}", {}, 400, "Invalid JSON structure, missing inputs"),
        (
            NO_DATA,
            {},
            400,
            "Received buffer size is smaller than binary_data_size parameter indicates",
        ),
        (
            NO_DATA + b"\0" * 39,  # one byte short of the 40 that [1, 10] FP32 takes
            {"Inference-Header-Content-Length": str(len(NO_DATA))},
            400,
            "Received buffer size is smaller than binary_data_size parameter indicates",
        ),
        (
            b"{}",
            {"Inference-Header-Content-Length": "3"},
            500,
            "Inference-Header-Content-Length header exceeds actual payload length",
        ),
        (
            b"{}",
            {"Inference-Header-Content-Length": "x"},
            500,
            "Inference-Header-Content-Length header is invalid and couldn't be parsed",
        ),
        (
            b'{"inputs":[{"name":"b","shape":[1,10],"datatype":"FP32","parameters":{"binary_data_size":"40"}}]}',
            {},
            400,
            "binary_data_size parameter is invalid and cannot be parsed",
        ),
        (
            b'{"inputs":[{"name":"b","shape":[1,10],"datatype":"FP32","data":[1]}]}',
            {},
            400,
            "Invalid number of values in tensor proto container",
        ),
    ],
)
def test_bad_bodies(extended, raw, headers, status, message):
    got_status, _, body = call(extended.rest_port, "POST", "/v2/models/dummy/infer", raw, headers)
    assert got_status == status
    if message.startswith("Invalid number of values"):
        assert json.loads(body)["error"].startswith(message)  # details name the input
    else:
        assert body == error_body(message)


def test_stateful_model_without_the_extension_is_not_implemented(main_server):
    raw = json.dumps(
        {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1.0]}]}
    ).encode()
    status, _, body = call(main_server.rest_port, "POST", "/v2/models/summator/infer", raw)
    assert (status, body) == (500, error_body("Functionality not implemented"))


# --- the sequence extension -------------------------------------------------------------


def run_sequence(port, sequence_id, values, results, errors):
    """One sequence through tritonclient.http on its own client; its outputs go to `results`."""
    triton = httpclient.InferenceServerClient(f"{LOOPBACK}:{port}")
    try:
        got = []
        for index, value in enumerate(values):
            tensor = httpclient.InferInput("x", [1, 1], "FP32")
            tensor.set_data_from_numpy(np.array([[value]], np.float32))
            result = triton.infer(
                "summator",
                [tensor],
                sequence_id=sequence_id,
                sequence_start=index == 0,
                sequence_end=index == len(values) - 1,
            )
            assert result.get_response()["parameters"] == {"sequence_id": sequence_id}
            got.append(float(result.as_numpy("y")[0, 0]))
        results[sequence_id] = got
    except Exception as error:  # reported by the test thread
        errors.append(error)
    finally:
        triton.close()


def test_thirty_concurrent_sequences_are_numpy_running_sums(extended):
    rng = np.random.default_rng(5)
    values = {1000 + i: rng.standard_normal(STEPS).astype(np.float32) for i in range(SEQUENCES)}
    results: dict[int, list[float]] = {}
    errors: list[Exception] = []
    threads = [
        threading.Thread(target=run_sequence, args=(extended.rest_port, sid, v, results, errors))
        for sid, v in values.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    for sequence_id, steps in values.items():
        assert results[sequence_id] == np.cumsum(steps, dtype=np.float32).tolist()


def infer_error(client, **sequence):
    """The InferenceServerException of one summator infer with these sequence arguments."""
    tensor = httpclient.InferInput("x", [1, 1], "FP32")
    tensor.set_data_from_numpy(np.array([[1.0]], np.float32))
    with pytest.raises(InferenceServerException) as caught:
        client.infer("summator", [tensor], **sequence)
    return caught.value


def test_sequence_parameter_errors(client, extended):
    missing = infer_error(client)
    assert missing.status() == "400"
    assert missing.message().startswith("Sequence ID has not been provided in request parameters")
    unknown = infer_error(client, sequence_id=424242)
    assert (unknown.status(), unknown.message()) == (
        "404",
        "Sequence with provided ID does not exist",
    )
    for arguments, fragment in (
        ({"sequence_id": 7, "sequence_start": 1}, "sequence_start must be a bool"),
        ({"sequence_id": -3}, "sequence_id must not be negative"),
        ({"sequence_id": 1.5}, "sequence_id must be an integer or a string"),
        ({"sequence_id": 2**64}, "sequence_id must fit in uint64"),
    ):
        error = infer_error(client, **arguments)
        assert error.status() == "400", arguments
        assert error.message().startswith("Invalid sequence parameter - ") and fragment in (
            error.message()
        )
    # Over REST a parameter keeps its JSON type: the bool true is not the number 1.
    raw = json.dumps(
        {
            "parameters": {"sequence_id": 9, "sequence_end": 1},
            "inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1]}],
        }
    ).encode()
    status, _, body = call(extended.rest_port, "POST", "/v2/models/summator/infer", raw)
    assert status == 400 and "sequence_end must be a bool" in json.loads(body)["error"]


def test_string_sequence_ids_round_trip(client):
    tensor = httpclient.InferInput("x", [1, 1], "FP32")
    total = np.float32(0)
    for index, value in enumerate(np.array([0.5, 2.0, -1.0], np.float32)):
        tensor.set_data_from_numpy(np.array([[value]], np.float32))
        result = client.infer(
            "summator",
            [tensor],
            sequence_id="named",
            sequence_start=index == 0,
            sequence_end=index == 2,
        )
        total = np.float32(total + value)
        assert result.get_response()["parameters"] == {"sequence_id": "named"}
        assert result.as_numpy("y")[0, 0] == total
