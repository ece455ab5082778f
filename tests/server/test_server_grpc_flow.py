"""Conformance over gRPC: normal flow, ids, limits, metadata/status, stateless models."""

import grpc
import numpy as np
import pytest

from tests.server.support.requests import (
    END,
    START,
    get_model_metadata_pb2,
    get_model_status_pb2,
    make_ndarray,
    make_tensor_proto,
    model_service_pb2_grpc,
    output,
    predict,
    predict_error,
    prediction_service_pb2_grpc,
    request,
    sequence_id_of,
    summator_x,
)

NOT_FOUND_SEQUENCE = "Sequence with provided ID does not exist"
ALREADY_EXISTS = "Sequence with provided ID already exists"
MAX_REACHED = "Max sequence number has been reached. Could not create new sequence."


def run_sequence(channel, model, values, sequence_id):
    """START, NO_CONTROL..., END; return the outputs and the ids the server echoed."""
    outputs, ids = [], []
    for i, value in enumerate(values):
        control = START if i == 0 else END if i == len(values) - 1 else None
        response = predict(channel, request(model, summator_x(value), sequence_id, control))
        outputs.append(float(output(response)[0, 0]))
        ids.append(sequence_id_of(response))
    return outputs, ids


def test_normal_flow_gives_running_sums_and_echoes_the_id(channel):
    values = np.random.default_rng(0).integers(-50, 50, size=12).astype(np.float32)
    outputs, ids = run_sequence(channel, "summator", values, sequence_id=4242)
    assert outputs == np.cumsum(values, dtype=np.float64).tolist()
    assert ids == [4242] * len(values)


def test_ended_sequence_is_gone_and_its_id_is_free(channel):
    run_sequence(channel, "summator", [1.0, 2.0], sequence_id=77)
    code, details = predict_error(channel, request("summator", summator_x(1.0), 77))
    assert (code, details) == (grpc.StatusCode.NOT_FOUND, NOT_FOUND_SEQUENCE)
    outputs, _ = run_sequence(channel, "summator", [5.0, 1.0], sequence_id=77)
    assert outputs == [5.0, 6.0]


def test_article_client_with_float_val_data_is_accepted(channel):
    """make_tensor_proto puts a one-element array in float_val (deviation: we accept it)."""
    req = request("summator", {"x": make_tensor_proto(np.array([[3.0]], np.float32))}, 901, START)
    assert len(req.inputs["x"].float_val) == 1 and not req.inputs["x"].tensor_content
    assert output(predict(channel, req))[0, 0] == 3.0
    req = request("summator", {"x": make_tensor_proto([[4.0]], dtype="float32")}, 901, END)
    assert output(predict(channel, req))[0, 0] == 7.0


def test_tensor_content_data_is_accepted(channel):
    proto = make_tensor_proto(np.array([[2.0]], np.float32))
    content = make_tensor_proto(np.array([[2.0]], np.float32))
    content.ClearField("float_val")
    content.tensor_content = np.array([[2.0]], np.float32).tobytes()
    assert proto.float_val and content.tensor_content
    predict(channel, request("summator", {"x": content}, 902, START))
    assert output(predict(channel, request("summator", {"x": content}, 902, END)))[0, 0] == 4.0


def test_start_on_a_live_id_fails_and_leaves_its_state(channel):
    predict(channel, request("summator", summator_x(10.0), 903, START))
    code, details = predict_error(channel, request("summator", summator_x(100.0), 903, START))
    assert (code, details) == (grpc.StatusCode.ALREADY_EXISTS, ALREADY_EXISTS)
    assert output(predict(channel, request("summator", summator_x(1.0), 903, END)))[0, 0] == 11.0


@pytest.mark.parametrize("control", [None, END])
def test_unknown_id_is_missing(channel, control):
    code, details = predict_error(channel, request("summator", summator_x(1.0), 123456789, control))
    assert (code, details) == (grpc.StatusCode.NOT_FOUND, NOT_FOUND_SEQUENCE)


def test_generated_ids_follow_the_ovms_counter(channel):
    """Fresh model: auto->1; END 1; auto->1; auto->2; END 1; auto->3; explicit 4 clashes later."""

    def auto_start():
        return sequence_id_of(predict(channel, request("ids", summator_x(1.0), None, START)))

    def end(sequence_id):
        predict(channel, request("ids", summator_x(1.0), sequence_id, END))

    assert auto_start() == 1
    end(1)
    assert auto_start() == 1
    assert auto_start() == 2
    end(1)
    assert auto_start() == 3
    predict(channel, request("ids", summator_x(1.0), 5, START))
    assert auto_start() == 4
    assert sequence_id_of(predict(channel, request("ids", summator_x(1.0), 0, START))) == 6
    code, details = predict_error(channel, request("ids", summator_x(1.0), 4, START))
    assert (code, details) == (grpc.StatusCode.ALREADY_EXISTS, ALREADY_EXISTS)
    for sequence_id in (2, 3, 4, 5, 6):
        end(sequence_id)


def test_max_sequence_number_is_checked_before_the_id_conflict(channel):
    for sequence_id in (1, 2, 3):
        predict(channel, request("limited", summator_x(1.0), sequence_id, START))
    for sequence_id in (4, 1, 0):
        code, details = predict_error(
            channel, request("limited", summator_x(1.0), sequence_id, START)
        )
        assert (code, details) == (grpc.StatusCode.UNAVAILABLE, MAX_REACHED)
    predict(channel, request("limited", summator_x(1.0), 2, END))
    assert sequence_id_of(predict(channel, request("limited", summator_x(1.0), 4, START))) == 4
    for sequence_id in (1, 3, 4):
        predict(channel, request("limited", summator_x(1.0), sequence_id, END))


def test_metadata_lists_only_the_model_inputs_and_outputs(channel):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    req = get_model_metadata_pb2.GetModelMetadataRequest()
    req.model_spec.name = "summator"
    req.metadata_field.append("signature_def")
    response = stub.GetModelMetadata(req, 10.0)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    signature = signatures.signature_def["serving_default"]
    assert list(signature.inputs) == ["x"] and list(signature.outputs) == ["y"]
    assert signature.inputs["x"].dtype == 1
    assert [d.size for d in signature.inputs["x"].tensor_shape.dim] == [1, 1]
    assert response.model_spec.name == "summator" and response.model_spec.version.value == 1


def test_status_reports_available(channel):
    stub = model_service_pb2_grpc.ModelServiceStub(channel)
    req = get_model_status_pb2.GetModelStatusRequest()
    req.model_spec.name = "summator"
    (status,) = stub.GetModelStatus(req, 10.0).model_version_status
    assert (status.version, status.state, status.status.error_code) == (1, 30, 0)
    assert status.status.error_message == "OK"


def test_status_of_unknown_model_and_version(channel):
    stub = model_service_pb2_grpc.ModelServiceStub(channel)
    req = get_model_status_pb2.GetModelStatusRequest()
    req.model_spec.name = "nope"
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetModelStatus(req, 10.0)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "Model with requested name is not found"
    req.model_spec.name = "summator"
    req.model_spec.version.value = 9
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetModelStatus(req, 10.0)
    assert caught.value.details() == "Model with requested version is not found"


def test_unknown_model_and_version_on_predict(channel):
    code, details = predict_error(channel, request("nope", summator_x(1.0), 1, START))
    assert (code, details) == (grpc.StatusCode.NOT_FOUND, "Model with requested name is not found")
    code, details = predict_error(
        channel, request("summator", summator_x(1.0), 1, START, version=7)
    )
    assert details == "Model with requested version is not found"
    assert code == grpc.StatusCode.NOT_FOUND


def test_explicit_version_one_works(channel):
    response = predict(channel, request("summator", summator_x(2.0), 904, START, version=1))
    assert output(response)[0, 0] == 2.0
    predict(channel, request("summator", summator_x(2.0), 904, END, version=1))


def test_stateless_model_computes_and_refuses_special_inputs(channel):
    b = np.arange(10, dtype=np.float32).reshape(1, 10)
    response = predict(channel, request("dummy", {"b": b}))
    np.testing.assert_array_equal(make_ndarray(response.outputs["a"]), b + 1)
    assert "sequence_id" not in response.outputs
    code, details = predict_error(channel, request("dummy", {"b": b}, sequence_id=5))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details == "Invalid number of inputs - Expected: 1; Actual: 2"


def test_stateful_model_without_variables_runs_sequences(channel):
    b = np.full((1, 10), 2.0, np.float32)
    first = predict(channel, request("dummy_stateful", {"b": b}, None, START))
    sequence_id = sequence_id_of(first)
    np.testing.assert_array_equal(make_ndarray(first.outputs["a"]), b + 1)
    last = predict(channel, request("dummy_stateful", {"b": b}, sequence_id, END))
    assert sequence_id_of(last) == sequence_id
