"""Conformance over REST (TFS API): column flow, every REST-visible error, status, metadata."""

import http.client
import json

import numpy as np
import pytest

from tests.server.support.requests import rest

PREDICT = "/v1/models/summator:predict"


@pytest.fixture(scope="module")
def base(main_server):
    return main_server.rest_url


def step(base, value, sequence_id=None, control=None, model="summator"):
    inputs = {"x": [[value]]}
    if sequence_id is not None:
        inputs["sequence_id"] = [sequence_id]
    if control is not None:
        inputs["sequence_control_input"] = [control]
    return rest(
        base, f"/v1/models/{model}:predict", {"signature_name": "serving_default", "inputs": inputs}
    )


def test_column_flow_gives_running_sums_and_sequence_id_lists(base):
    values = [3.0, -1.5, 10.0, 0.25, 7.0]
    got = []
    for i, value in enumerate(values):
        control = 1 if i == 0 else 2 if i == len(values) - 1 else None
        status, body = step(base, value, 31337, control)
        assert status == 200 and body["outputs"]["sequence_id"] == [31337]
        got.append(body["outputs"]["y"][0][0])
    assert got == np.cumsum(values).tolist()
    assert step(base, 1.0, 31337) == (404, {"error": "Sequence with provided ID does not exist"})


def test_rest_start_without_an_id_gets_a_generated_one(base):
    status, body = step(base, 1.0, None, 1)
    assert status == 200
    sequence_id = body["outputs"]["sequence_id"][0]
    assert isinstance(sequence_id, int) and sequence_id > 0
    assert step(base, 1.0, sequence_id, 2)[1]["outputs"]["y"] == [[2.0]]


@pytest.mark.parametrize(
    ("special", "code", "message"),
    [
        ({"sequence_id": 5}, 400, "Special input proto does not contain tensor shape information"),
        ({"sequence_id": [-1]}, 400, "Could not parse input content. Not valid ndarray detected"),
        ({"sequence_id": [1.5]}, 400, "Could not parse input content. Not valid ndarray detected"),
        ({"sequence_id": ["5"]}, 400, "Could not parse input content. Not valid ndarray detected"),
        ({"sequence_id": [[5]]}, 400, "Could not parse input content. Not valid ndarray detected"),
        (
            {"sequence_id": [5], "sequence_control_input": [2**32]},
            400,
            "Could not parse input content. Not valid ndarray detected",
        ),
        (
            {"sequence_id": [5, 6]},
            400,
            "Invalid input shape - Required shape for sequence_id is: (1)",
        ),
        ({"sequence_id": []}, 400, "Invalid input shape - Required shape for sequence_id is: (1)"),
        ({}, 400, "Sequence ID has not been provided in request inputs"),
        (
            {"sequence_id": [5], "sequence_control_input": [7]},
            400,
            "Unexpected value of sequence control input",
        ),
        ({"sequence_id": [987654]}, 404, "Sequence with provided ID does not exist"),
    ],
)
def test_special_input_errors(base, special, code, message):
    body = {"inputs": {"x": [[1.0]], **special}}
    assert rest(base, PREDICT, body) == (code, {"error": message})


def test_rest_conflict_is_409_and_the_sequence_limit_503(base):
    assert step(base, 1.0, 555, 1)[0] == 200
    assert step(base, 1.0, 555, 1) == (409, {"error": "Sequence with provided ID already exists"})
    for sequence_id in (1, 2, 3):
        assert step(base, 1.0, 600 + sequence_id, 1, model="limited")[0] == 200
    limit = "Max sequence number has been reached. Could not create new sequence."
    assert step(base, 1.0, 700, 1, model="limited") == (503, {"error": limit})
    for sequence_id in (1, 2, 3):
        assert step(base, 1.0, 600 + sequence_id, 2, model="limited")[0] == 200
    assert step(base, 1.0, 555, 2)[1]["outputs"]["y"] == [[2.0]]


def test_row_format_cannot_carry_special_inputs(base):
    scalar = {"instances": [{"x": [1.0], "sequence_id": 5}]}
    assert rest(base, PREDICT, scalar) == (
        400,
        {"error": "Could not parse instance content. Not valid ndarray detected"},
    )
    array = {"instances": [{"x": [1.0], "sequence_id": [5], "sequence_control_input": [1]}]}
    assert rest(base, PREDICT, array) == (
        400,
        {"error": "Invalid number of shape dimensions - Required shape for sequence_id is: (1)"},
    )
    unnamed = {"inputs": [[1.0]]}
    assert rest(base, PREDICT, unnamed) == (
        400,
        {"error": "Sequence ID has not been provided in request inputs"},
    )


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            {"x": [[1.0, 2.0]]},
            "Invalid input shape - Expected: (1,1); Actual: (1,2); input name: x",
        ),
        ({"x": [[1.0], [2.0]]}, "Invalid input batch size - Expected: 1; Actual: 2; input name: x"),
        (
            {"x": [1.0]},
            "Invalid number of shape dimensions - Expected: (1,1); Actual: (1); input name: x",
        ),
        ({"x": [["a"]]}, "Could not parse input content. Not valid ndarray detected"),
        ({"x": [[1.0], [2.0, 3.0]]}, "Could not parse input content. Not valid ndarray detected"),
        ({"y": [[1.0]]}, "Missing input with specific name - Required input: x"),
        ({"x": [[1.0]], "z": [[1.0]]}, "Invalid number of inputs - Expected: 3; Actual: 4"),
    ],
)
def test_data_errors(base, inputs, message):
    body = {"inputs": {**inputs, "sequence_id": [8080], "sequence_control_input": [1]}}
    assert rest(base, PREDICT, body) == (400, {"error": message})


def test_malformed_bodies_and_urls(base, main_server):
    assert rest(base, PREDICT, raw=b"\x00\xffnot json")[0] == 400
    assert rest(base, PREDICT, raw=b"[1, 2]") == (
        400,
        {"error": "Request body should be JSON object"},
    )
    assert rest(base, PREDICT, {"neither": 1})[0] == 400
    assert rest(base, "/v1/models/nope:predict", {"inputs": {}}) == (
        404,
        {"error": "Model with requested name is not found"},
    )
    assert rest(base, "/v1/models/summator/versions/3:predict", {"inputs": {}}) == (
        404,
        {"error": "Model with requested version is not found"},
    )
    assert rest(base, "/v3/models/summator/infer", {"inputs": []})[0] == 404  # neither API
    # /v2 is KServe's (test_server_kserve_rest.py): its own check of the body.
    assert rest(base, "/v2/models/summator/infer", {"inputs": []}) == (
        400,
        {"error": "Invalid JSON structure, missing inputs"},
    )
    assert main_server.is_running()


def test_huge_body_is_refused_before_it_is_read(main_server):
    connection = http.client.HTTPConnection("127.0.0.1", main_server.rest_port, timeout=10)
    connection.putrequest("POST", PREDICT)
    connection.putheader("Content-Length", str(2**40))
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 413
    assert json.loads(response.read()) == {"error": "Request payload too large"}
    connection.close()
    assert main_server.is_running()
    assert step(main_server.rest_url, 1.0, None, 1)[0] == 200


def test_rest_model_status_and_metadata(base):
    assert rest(base, "/v1/models/summator") == (
        200,
        {
            "model_version_status": [
                {
                    "version": "1",
                    "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": "OK"},
                }
            ]
        },
    )
    assert rest(base, "/v1/models/summator/versions/1")[0] == 200
    assert rest(base, "/v1/models/nope") == (
        404,
        {"error": "Model with requested name is not found"},
    )
    status, body = rest(base, "/v1/models/summator/metadata")
    signature = body["metadata"]["signature_def"]["signatureDef"]["serving_default"]
    assert (
        status == 200 and list(signature["inputs"]) == ["x"] and list(signature["outputs"]) == ["y"]
    )


def test_stateless_row_and_column_formats(base):
    row = np.arange(10, dtype=np.float32)
    status, body = rest(base, "/v1/models/dummy:predict", {"instances": [row.tolist()]})
    assert status == 200 and body == {"predictions": [(row + 1).tolist()]}
    status, body = rest(base, "/v1/models/dummy:predict", {"instances": [{"b": row.tolist()}]})
    assert status == 200 and body == {"predictions": [(row + 1).tolist()]}
    status, body = rest(base, "/v1/models/dummy:predict", {"inputs": {"b": [row.tolist()]}})
    assert status == 200 and body == {"outputs": [(row + 1).tolist()]}
