"""Unit tests of the KServe REST front end's pure parts: JSON, routes, request and response codec.

The oracles are independent of our code: rapidjson's own dtoa test vectors, python-rapidjson's
C++ PrettyWriter (for layout and escapes), the offsets of bytes in the text, numpy for data.
"""

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import rapidjson

from helpers.model_server.dataplane.kserve_messages import KServeResult
from helpers.model_server.protocol.status import Code, ServingError
from helpers.model_server.rest_api.kserve.json_text import (
    JsonParseError,
    JsonTooDeep,
    compact,
    format_double,
    parse_json,
    pretty,
)
from helpers.model_server.rest_api.kserve.request import decode_infer, header_length
from helpers.model_server.rest_api.kserve.response import render_error, render_infer
from helpers.model_server.rest_api.kserve.service import kserve_route
from helpers.model_server.rest_api.kserve.status import RestCode, RestError, http_status
from helpers.model_server.rest_api.kserve.urls import (
    Route,
    is_path_escaped,
    match_route,
    url_decode,
)
from helpers.model_server.rest_api.routing import Request
from helpers.serving.protocol import VersionState

# rapidjson's test/unittest/dtoatest.cpp (TEST_DTOA) vectors: Grisu2 digits, Prettify layout.
RAPIDJSON_DTOA = [
    (0.0, "0.0"),
    (-0.0, "-0.0"),
    (1.0, "1.0"),
    (-1.0, "-1.0"),
    (1.2345, "1.2345"),
    (1.2345678, "1.2345678"),
    (0.123456789012, "0.123456789012"),
    (1234567.8, "1234567.8"),
    (-79.39773355813419, "-79.39773355813419"),
    (0.000001, "0.000001"),
    (0.0000001, "1e-7"),
    (1e30, "1e30"),
    (1.234567890123456e30, "1.234567890123456e30"),
    (5e-324, "5e-324"),
    (2.225073858507201e-308, "2.225073858507201e-308"),
    (1.7976931348623157e308, "1.7976931348623157e308"),
    (1e21, "1e21"),
    (1e20, "100000000000000000000.0"),
]


def rapidjson_pretty(document: object) -> bytes:
    """rapidjson's PrettyWriter (C++, via python-rapidjson) with single-line arrays."""
    mode = rapidjson.WM_PRETTY | rapidjson.WM_SINGLE_LINE_ARRAY
    return rapidjson.dumps(document, write_mode=mode, indent=4, ensure_ascii=False).encode()


def error_of(call):
    """The ServingError or RestError a call raises."""
    with pytest.raises((ServingError, RestError)) as caught:
        call()
    return caught.value


# --- JSON writing -------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), RAPIDJSON_DTOA)
def test_doubles_are_written_as_rapidjson_writes_them(value, text):
    assert format_double(value) == text


def test_random_doubles_round_trip_in_rapidjson_layout():
    rng = np.random.default_rng(7)
    values = rng.standard_normal(5000) * 10.0 ** rng.integers(-40, 40, 5000)
    for value in values.tolist():
        text = format_double(value)
        assert float(text) == value
        assert "+" not in text and "e-0" not in text
        fixed = 1e-6 <= abs(value) < 1e21
        assert ("e" not in text) == fixed
        if fixed:
            assert "." in text


def test_nan_and_infinity_are_written_so_that_rapidjson_reads_them_back():
    values = [1.5, math.nan, math.inf, -math.inf]
    document = {"data": values}
    for text in (pretty(document), compact(document)):
        read = rapidjson.loads(text)["data"]  # what tritonclient.http parses replies with
        assert read[0] == 1.5 and math.isnan(read[1]) and read[2:] == [math.inf, -math.inf]


def test_pretty_layout_is_rapidjson_prettywriter_with_single_line_arrays():
    document = {
        "model_name": "m\u00e9",
        "id": 'q"\\\x01\n',
        "outputs": [
            {"name": "a", "shape": [1, 3], "datatype": "INT32", "data": [1, -2, 3]},
            {"name": "b", "shape": [], "datatype": "BOOL", "parameters": {"binary_data_size": 4}},
            {"empty": {}, "list": [], "nested": [[1, 2], [3]]},
        ],
    }
    assert pretty(document) == rapidjson_pretty(document)


def test_compact_is_rapidjson_writer():
    document = {"error": 'a\x1f"b\\\u00e9', "list": [1, True, False, None, "x"], "o": {}}
    assert compact(document) == rapidjson.dumps(document, ensure_ascii=False).encode()


def test_pretty_doubles_read_back_as_the_same_values():
    values = np.random.default_rng(3).standard_normal(100).astype(np.float32)
    document = {"data": [float(v) for v in values]}
    assert json.loads(pretty(document)) == document


def test_strings_stop_at_a_nul_as_c_strings_do():
    assert compact({"error": "before\x00after"}) == b'{"error":"before"}'


# --- JSON reading -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "offset_of"),
    [
        (b'{"a":1,}', "Missing a name for object member.", b"}"),
        (b'{"a" 1}', "Missing a colon after a name of object member.", b"1"),
        (b'{"a":1 "b":2}', "Missing a comma or '}' after an object member.", b'"b'),
        (b"[1 2]", "Missing a comma or ']' after an array element.", b"2"),
        (b'{"a": nul}', "Invalid value.", b"}"),
        (b"[1.]", "Miss fraction part in number.", b"]"),
        (b'{"a":1} x', "The document root must not be followed by other values.", b"x"),
    ],
)
def test_invalid_json_gives_rapidjsons_message_and_offset(text, message, offset_of):
    with pytest.raises(JsonParseError) as caught:
        parse_json(text)
    assert caught.value.details == f"Error: {message} Offset: {text.index(offset_of)}"


def test_empty_json_is_an_empty_document():
    with pytest.raises(JsonParseError) as caught:
        parse_json(b"  ")
    assert caught.value.details == "Error: The document is empty. Offset: 2"


def test_nesting_deeper_than_100_is_refused_even_before_a_syntax_error():
    assert parse_json(b"[" * 100 + b"]" * 100) is not None
    with pytest.raises(JsonTooDeep):
        parse_json(b"[" * 101 + b"]" * 101)
    with pytest.raises(JsonTooDeep):
        parse_json(b'{"k":' * 101 + b"x")
    assert parse_json(b'{"a":"' + b"[" * 200 + b'"}') == {"a": "[" * 200}


def test_text_ends_at_nul_and_first_duplicate_member_wins():
    assert parse_json(b'{"a":1,"a":2}\x00trailing garbage') == {"a": 1}


# --- routes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "route", "name", "version"),
    [
        ("GET", "/v2", Route.SERVER_METADATA, "", ""),
        ("GET", "/v2/health/live", Route.SERVER_LIVE, "", ""),
        ("GET", "/v2/health/ready", Route.SERVER_READY, "", ""),
        ("GET", "/v2/models/m", Route.MODEL_METADATA, "m", ""),
        ("GET", "/v2/models/m/", Route.MODEL_METADATA, "m", ""),
        ("GET", "/v2/models/m/versions/007", Route.MODEL_METADATA, "m", "7"),
        ("GET", "/v2/models/m/versions/3/", Route.MODEL_METADATA, "m", "3"),
        ("GET", "/v2/models/m/ready", Route.MODEL_READY, "m", ""),
        ("GET", "/v2/models/a%20b/versions/2/ready", Route.MODEL_READY, "a b", "2"),
        ("POST", "/v2/models/m/infer", Route.INFER, "m", ""),
        ("POST", "/v2/models/m/versions/1/infer", Route.INFER, "m", "1"),
        ("OPTIONS", "/v2/anything/at/all", Route.OPTIONS, "", ""),
    ],
)
def test_routes_match_the_whole_path(method, path, route, name, version):
    match = match_route(method, path)
    assert (match.route, match.model_name, match.model_version) == (route, name, version)


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", "/v2/", Code.REST_INVALID_URL),
        ("GET", "/v2/health/live/", Code.REST_INVALID_URL),
        ("GET", "/v2/models/m/ready/", Code.REST_INVALID_URL),
        ("GET", "/v2/models/m/versions/x", Code.REST_INVALID_URL),
        ("GET", "/v2/models/m/infer", Code.REST_UNSUPPORTED_METHOD),
        ("POST", "/v2/models/m/infer/", Code.REST_INVALID_URL),
        ("POST", "/v2/models/m/ready", Code.REST_UNSUPPORTED_METHOD),
        ("POST", "/v2/models/m", Code.REST_UNSUPPORTED_METHOD),
        ("POST", "/v2", Code.REST_UNSUPPORTED_METHOD),
        ("POST", "/v2/health/live", Code.REST_UNSUPPORTED_METHOD),
        ("DELETE", "/v2/models/m", Code.REST_UNSUPPORTED_METHOD),
        ("PUT", "/v2/nothing", Code.REST_UNSUPPORTED_METHOD),
        ("GET", "/v2/models/m/versions/99999999999999999999", Code.MODEL_VERSION_MISSING),
    ],
)
def test_route_errors(method, path, code):
    assert error_of(lambda: match_route(method, path)).code == code


def test_escaping_paths_are_refused_first():
    error = error_of(lambda: match_route("DELETE", "/v2/models/../x"))
    assert error.code == RestCode.PATH_INVALID and http_status(error) == 400
    assert is_path_escaped("../v2") and is_path_escaped("/v2/..") and is_path_escaped("/a/../b")
    assert not is_path_escaped("/v2/models/..x") and not is_path_escaped("/v2/models/x..")


def test_url_decode_is_ovms_urldecode():
    assert url_decode("a%20b%2Fc") == "a b/c"
    assert url_decode("%zz%4") == "%zz%4"
    assert url_decode("%41%42") == "AB"


def test_kserve_http_codes_follow_ovms_http_server():
    assert http_status(ServingError(Code.REST_INVALID_URL)) == 400
    assert http_status(ServingError(Code.REST_UNSUPPORTED_METHOD)) == 406
    assert http_status(ServingError(Code.JSON_INVALID)) == 412
    assert http_status(ServingError(Code.NOT_IMPLEMENTED)) == 500
    assert http_status(RestError(RestCode.REST_INFERENCE_HEADER_CONTENT_LENGTH_INVALID)) == 500


# --- request decoding ---------------------------------------------------------------------


def body(inputs, **extra) -> bytes:
    """A JSON infer body."""
    return json.dumps({"inputs": inputs, **extra}).encode()


def test_nested_and_flat_data_flatten_in_c_order():
    nested = np.arange(6, dtype=np.int32).reshape(2, 3)
    decoded = decode_infer(
        "m",
        "",
        body(
            [
                {"name": "a", "shape": [2, 3], "datatype": "INT32", "data": nested.tolist()},
                {
                    "name": "b",
                    "shape": [2, 3],
                    "datatype": "INT32",
                    "data": nested.ravel().tolist(),
                },
            ]
        ),
        None,
    )
    a, b = decoded.request.inputs
    assert list(a.contents) == list(b.contents) == nested.ravel().tolist()
    assert a.shape == (2, 3) and a.datatype == "INT32" and decoded.request.raw_input_contents == ()


def test_fp64_data_goes_through_a_float_as_getfloat_does():
    values = [0.1, 1.0 / 3.0, 12345.678901]
    decoded = decode_infer(
        "m", "", body([{"name": "x", "shape": [3], "datatype": "FP64", "data": values}]), None
    )
    expected = np.asarray(values).astype(np.float32).astype(np.float64).tolist()
    assert list(decoded.request.inputs[0].contents) == expected


@pytest.mark.parametrize(
    ("datatype", "value"),
    [
        ("INT64", 2**31),
        ("INT32", 1.5),
        ("UINT64", 2**32),
        ("UINT8", -1),
        ("BOOL", 1),
        ("FP32", True),
        ("FP32", "1"),
    ],
)
def test_values_rapidjson_would_not_read_are_refused(datatype, value):
    request = body([{"name": "x", "shape": [1], "datatype": datatype, "data": [value]}])
    assert error_of(lambda: decode_infer("m", "", request, None)).code == (
        Code.REST_COULD_NOT_PARSE_INPUT
    )


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"[]", Code.REST_BODY_IS_NOT_AN_OBJECT),
        (b"{}", RestCode.REST_NO_INPUTS_FOUND),
        (b'{"inputs":[]}', RestCode.REST_NO_INPUTS_FOUND),
        (b'{"inputs":{}}', Code.REST_COULD_NOT_PARSE_INPUT),
        (b'{"id":5,"inputs":[]}', Code.REST_COULD_NOT_PARSE_INPUT),
        (b'{"parameters":[],"inputs":[]}', RestCode.REST_COULD_NOT_PARSE_PARAMETERS),
        (b'{"parameters":{"p":1.5},"inputs":[]}', RestCode.REST_COULD_NOT_PARSE_PARAMETERS),
        (b'{"parameters":{"p":2147483648},"inputs":[]}', RestCode.REST_COULD_NOT_PARSE_PARAMETERS),
        (b'{"outputs":{},"inputs":[]}', Code.REST_COULD_NOT_PARSE_INPUT),
        (b'{"outputs":[{}],"inputs":[]}', RestCode.REST_COULD_NOT_PARSE_OUTPUT),
        (b'{"inputs":[{"name":"x","shape":[-1],"datatype":"FP32","data":[]}]}', None),
        (b'{"inputs":[{"name":"x","shape":[1],"datatype":"FP16","data":[1]}]}', None),
        (b'{"inputs":[{"name":"x","shape":[1],"datatype":"X","data":[1]}]}', "precision"),
        (b'{"inputs":[{"name":"x","shape":[2],"datatype":"BYTES"}]}', None),
    ],
)
def test_body_errors_in_ovms_order(raw, code):
    expected = {
        None: Code.REST_COULD_NOT_PARSE_INPUT,
        "precision": RestCode.REST_UNSUPPORTED_PRECISION,
    }
    assert error_of(lambda: decode_infer("m", "", raw, None)).code == expected.get(code, code)


def test_invalid_json_is_json_invalid_with_details():
    error = error_of(lambda: decode_infer("m", "", b'{"inputs":', None))
    assert error.code == Code.JSON_INVALID and http_status(error) == 412
    assert str(error) == "The file is not valid json - Error: Invalid value. Offset: 10"


def test_sequence_parameters_keep_any_scalar_for_the_data_plane():
    raw = body(
        [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],
        parameters={"sequence_id": 2**64 - 1, "sequence_start": True, "sequence_end": 1.5},
    )
    parameters = decode_infer("m", "", raw, None).request.parameters
    assert parameters == {"sequence_id": 2**64 - 1, "sequence_start": True, "sequence_end": 1.5}


def test_binary_inputs_are_cut_from_the_buffer_in_input_order():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([[True, False]])
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "a",
                    "shape": [2, 3],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": a.nbytes},
                },
                {"name": "b", "shape": [1, 2], "datatype": "BOOL"},  # size from the shape
            ]
        }
    ).encode()
    decoded = decode_infer("m", "2", header + a.tobytes() + b.tobytes(), len(header))
    assert decoded.request.raw_input_contents == (a.tobytes(), b.tobytes())
    assert [t.contents for t in decoded.request.inputs] == [None, None]
    assert decoded.request.model_version == "2"


def test_binary_size_errors():
    one = {"name": "a", "shape": [1, 3], "datatype": "FP32"}
    header = json.dumps({"inputs": [one]}).encode()
    too_short = error_of(lambda: decode_infer("m", "", header + b"\0" * 11, len(header)))
    assert too_short.code == RestCode.REST_BINARY_BUFFER_EXCEEDED and http_status(too_short) == 400
    past_end = error_of(lambda: decode_infer("m", "", header, len(header) + 1))
    assert past_end.code == RestCode.REST_INFERENCE_HEADER_CONTENT_LENGTH_EXCEEDED
    for size in (-1, "12", True):
        bad = json.dumps({"inputs": [{**one, "parameters": {"binary_data_size": size}}]}).encode()
        error = error_of(lambda raw=bad: decode_infer("m", "", raw + b"\0" * 12, len(raw)))
        assert error.code == RestCode.REST_BINARY_DATA_SIZE_PARAMETER_INVALID
    both = {**one, "data": [1, 2, 3], "parameters": {"binary_data_size": 12}}
    mixed = json.dumps({"inputs": [both]}).encode()
    error = error_of(lambda: decode_infer("m", "", mixed + b"\0" * 12, len(mixed)))
    assert error.code == RestCode.REST_CONTENTS_FIELD_NOT_EMPTY


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Inference-Header-Content-Length": "12"}, 12),
        ({"inference-header-content-length": " +7"}, 7),
    ],
)
def test_header_length(headers, expected):
    assert header_length(headers) == expected


@pytest.mark.parametrize("value", ["", "-1", "12 ", "0x10", "2147483648", "1.0"])
def test_invalid_header_length(value):
    error = error_of(lambda: header_length({"inference-header-content-length": value}))
    assert error.code == RestCode.REST_INFERENCE_HEADER_CONTENT_LENGTH_INVALID


def test_only_the_last_requested_output_can_be_binary_as_in_ovms():
    x = [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]
    both = [
        {"name": "a", "parameters": {"binary_data": True}},
        {"name": "b", "parameters": {"binary_data": True}},
    ]
    assert decode_infer("m", "", body(x, outputs=both), None).binary_outputs == {"b"}
    default = body(x, outputs=[{"name": "a"}], parameters={"binary_data_output": True})
    assert decode_infer("m", "", default, None).binary_outputs == {"a"}
    override = [{"name": "a", "parameters": {"binary_data": False}}]
    off = body(x, outputs=override, parameters={"binary_data_output": True})
    assert decode_infer("m", "", off, None).binary_outputs == set()
    unlisted = body(x, parameters={"binary_data_output": True})
    assert decode_infer("m", "", unlisted, None).binary_outputs == set()


# --- response rendering -------------------------------------------------------------------


def test_infer_response_order_and_binary_outputs():
    a = np.array([[0.5, -1.25, 3.0]], dtype=np.float32)
    b = np.array([[1, 2]], dtype=np.int64)
    result = KServeResult("m", "1", "req", {"a": a, "b": b}, sequence_id=2**64 - 1)
    rendered = render_infer(result, frozenset({"b"}))
    text = rendered.body[: rendered.json_length]
    assert rendered.body[rendered.json_length :] == b.astype("<i8").tobytes()
    expected = {
        "model_name": "m",
        "id": "req",
        "model_version": "1",
        "parameters": {"sequence_id": 2**64 - 1},
        "outputs": [
            {"name": "a", "shape": [1, 3], "datatype": "FP32", "data": a.ravel().tolist()},
            {
                "name": "b",
                "shape": [1, 2],
                "datatype": "INT64",
                "parameters": {"binary_data_size": 16},
            },
        ],
    }
    assert text == rapidjson_pretty(expected)  # these doubles print alike in both writers


def test_json_only_response_has_no_header_length_and_no_empty_id():
    result = KServeResult("m", "1", "", {"y": np.array([True, False])})
    rendered = render_infer(result, frozenset())
    assert rendered.json_length is None
    assert list(json.loads(rendered.body)) == ["model_name", "model_version", "outputs"]


def test_an_empty_binary_output_has_neither_data_nor_size():
    result = KServeResult("m", "1", "", {"y": np.zeros((0, 2), np.float32)})
    rendered = render_infer(result, frozenset({"y"}))
    assert json.loads(rendered.body)["outputs"] == [
        {"name": "y", "shape": [0, 2], "datatype": "FP32"}
    ]


def test_error_body_is_compact():
    assert render_error("Unsupported method") == b'{"error":"Unsupported method"}'


# --- the route function -------------------------------------------------------------------


def rest_request(method: str, path: str) -> Request:
    """A bodiless request as the REST front end hands it to a route."""
    return Request(method, path, "", {}, b"", "127.0.0.1")


def test_a_server_not_ready_answers_503():
    route = kserve_route(SimpleNamespace(models={}), ready=lambda: False)
    reply = route(rest_request("GET", "/v2/health/ready"))
    assert (reply.status, reply.body) == (503, b'{"error":"Server is not ready"}')
    assert route(rest_request("GET", "/v2/health/live")).status == 200


def test_a_version_not_available_yet_is_not_loaded_yet():
    loading = SimpleNamespace(state=VersionState.LOADING)
    manager = SimpleNamespace(models={"m": SimpleNamespace(default=None, versions={1: loading})})
    reply = kserve_route(manager)(rest_request("GET", "/v2/models/m/versions/1/ready"))
    expected = compact({"error": Code.MODEL_VERSION_NOT_LOADED_YET.message})
    assert (reply.status, reply.body) == (404, expected)


def test_binary_size_overflow_stops_at_the_first_zero_as_ovms_counts():
    big = 2**31 - 1
    for shape, overflows in (([big, big, big, 0], True), ([0, big, big, big], False)):
        raw = json.dumps({"inputs": [{"name": "a", "shape": shape, "datatype": "FP32"}]}).encode()
        if overflows:
            error = error_of(lambda raw=raw: decode_infer("m", "", raw, len(raw)))
            assert error.code == Code.INVALID_CONTENT_SIZE
        else:
            assert decode_infer("m", "", raw, len(raw)).request.raw_input_contents == (b"",)
