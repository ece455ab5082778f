"""KServe v2 gRPC (`inference.GRPCInferenceService`) through tritonclient, as OVMS 2026.2 answers.

Also our opt-in sequence extension (`--kserve_sequence_extension`): Triton's sequence parameters
on a stateful model. Expected values come from NumPy, messages from OVMS's sources.
"""

import threading
import time
from collections.abc import Iterator

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
import tritonclient.grpc as triton
from tritonclient.grpc import service_pb2
from tritonclient.grpc._utils import get_error_grpc
from tritonclient.utils import InferenceServerException

from helpers.models.summator import build_summator
from helpers.serving import launcher
from tests.server.support.kserve_fuzz import set_parameter
from tests.server.support.models import build_dummy
from tests.server.support.servers import serve_repository

INVALID = "StatusCode.INVALID_ARGUMENT"
NOT_FOUND = "StatusCode.NOT_FOUND"
NAME_MISSING = "Model with requested name is not found"
VERSION_MISSING = "Model with requested version is not found"
GRAPH_MISSING = "Mediapipe graph definition with requested name is not found"
SEQUENCE_MISSING = "Sequence with provided ID does not exist"
SEQUENCE_EXISTS = "Sequence with provided ID already exists"
MAX_SEQUENCES = "Max sequence number has been reached. Could not create new sequence."
BAD_PARAMETER = "Invalid sequence parameter - "
NO_SEQUENCE_ID = (
    "Sequence ID has not been provided in request parameters - a stateful model needs the "
    "sequence_id parameter (int64, uint64 or string)"
)
MIXED = (
    "Passing buffers both in ModelInferRequest::InferInputTensor::contents and in "
    "ModelInferRequest::raw_input_contents is not allowed - Passing buffers both in "
    "InferInputTensor contents and in raw_input_contents is not allowed. Detected buffer in "
    "InferInputTensor contents for input: "
)
CLEANER_SECONDS = 1

DEFAULT_CONFIG: list[dict[str, object]] = [
    {"name": "summator", "stateful": True, "idle_sequence_cleanup": False},
    {"name": "dummy"},
    {"name": "two"},
]
EXTENSION_CONFIG: list[dict[str, object]] = [
    {"name": "summator", "stateful": True, "idle_sequence_cleanup": False},
    {
        "name": "limited",
        "base_path": "summator",
        "stateful": True,
        "idle_sequence_cleanup": False,
        "max_sequence_number": 3,
    },
    {"name": "idle", "base_path": "summator", "stateful": True},
    {
        "name": "batched",
        "base_path": "summator",
        "stateful": True,
        "idle_sequence_cleanup": False,
        "sequence_batching": {"max_batch_size": 8, "max_queue_delay_microseconds": 500},
    },
    {"name": "dummy"},
]


def build_two() -> ov.Model:
    """Two inputs for the order of checks: `a` f32 [1,2] -> `a2` = 2a; `b` i64 [-1,3] -> b+1."""
    a = ops.parameter([1, 2], np.float32, name="a")
    b = ops.parameter([-1, 3], np.int64, name="b")
    a.output(0).set_names({"a"})
    b.output(0).set_names({"b"})
    a2 = ops.multiply(a, ops.constant(np.array([[2.0, 2.0]], np.float32)))
    b1 = ops.add(b, ops.constant(np.ones((1, 3), np.int64)))
    return ov.Model([ops.result(a2, name="a2"), ops.result(b1, name="b1")], [a, b], "two")


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[launcher.ServerHandle]:
    """OVMS's behaviour: no extension."""
    models = {"summator": build_summator(), "dummy": build_dummy(), "two": build_two()}
    with serve_repository(
        tmp_path_factory.mktemp("kserve_default"), models, DEFAULT_CONFIG, file_poll_seconds=0
    ) as handle:
        yield handle


@pytest.fixture(scope="module")
def extension_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[launcher.ServerHandle]:
    """The sequence extension on; `idle` is scanned every second."""
    models = {"summator": build_summator(), "dummy": build_dummy()}
    with serve_repository(
        tmp_path_factory.mktemp("kserve_extension"),
        models,
        EXTENSION_CONFIG,
        file_poll_seconds=0,
        cleaner_seconds=CLEANER_SECONDS,
        extra_args=["--kserve_sequence_extension"],
    ) as handle:
        yield handle


@pytest.fixture(scope="module")
def client(default_server: launcher.ServerHandle) -> Iterator[triton.InferenceServerClient]:
    """A tritonclient to the default server."""
    with triton.InferenceServerClient(default_server.grpc_address) as c:
        yield c


@pytest.fixture(scope="module")
def ext(extension_server: launcher.ServerHandle) -> Iterator[triton.InferenceServerClient]:
    """A tritonclient to the extension server."""
    with triton.InferenceServerClient(extension_server.grpc_address) as c:
        yield c


def infer_input(name: str, array: np.ndarray) -> triton.InferInput:
    """A tritonclient input holding `array` (sent as raw_input_contents)."""
    tensor = triton.InferInput(name, list(array.shape), triton.np_to_triton_dtype(array.dtype))
    tensor.set_data_from_numpy(array)
    return tensor


def x_of(value: float) -> list[triton.InferInput]:
    """The summator's input holding one value."""
    return [infer_input("x", np.array([[value]], np.float32))]


def send(
    c: triton.InferenceServerClient, request: service_pb2.ModelInferRequest
) -> service_pb2.ModelInferResponse:
    """Send a hand-built request through tritonclient's stub; errors as tritonclient raises them."""
    try:
        return c._client_stub.ModelInfer(request)
    except Exception as error:  # grpc.RpcError
        raise get_error_grpc(error) from None


def failure(call, *args, **kwargs) -> tuple[str, str]:
    """The (status, message) of a call that must fail with InferenceServerException."""
    with pytest.raises(InferenceServerException) as caught:
        call(*args, **kwargs)
    return str(caught.value.status()), caught.value.message()


def two_request(**tensors: tuple[str, list[int], bytes | None]) -> service_pb2.ModelInferRequest:
    """A raw ModelInferRequest for `two`: name -> (datatype, shape, raw buffer or None)."""
    request = service_pb2.ModelInferRequest(model_name="two")
    for name, (datatype, shape, raw) in tensors.items():
        request.inputs.add(name=name, datatype=datatype, shape=shape)
        if raw is not None:
            request.raw_input_contents.append(raw)
    return request


A_OK = ("FP32", [1, 2], np.array([[1.5, -2.0]], np.float32).tobytes())
B_OK = ("INT64", [2, 3], np.arange(6, dtype=np.int64).tobytes())


# --- Server and model metadata ----------------------------------------------------------------


def test_server_live_ready_and_metadata(client):
    assert client.is_server_live() is True
    assert client.is_server_ready() is True
    metadata = client.get_server_metadata()
    assert metadata.name == "OpenVINO Model Server"
    assert metadata.version.startswith("2026.2")
    assert list(metadata.extensions) == []


def test_server_metadata_lists_the_sequence_extension_only_when_it_is_on(client, ext):
    """Triton's sequence extension document: "sequence", and "sequence(string_id)" with strings."""
    assert list(client.get_server_metadata().extensions) == []
    assert "extensions" not in client.get_server_metadata(as_json=True)
    metadata = ext.get_server_metadata()
    assert (metadata.name, metadata.version) == ("OpenVINO Model Server", "2026.2.1.749fc03a")
    assert list(metadata.extensions) == ["sequence", "sequence(string_id)"]


def test_model_ready_stateless_stateful_and_errors(client):
    assert client.is_model_ready("dummy") is True
    assert client.is_model_ready("summator", "1") is True
    assert failure(client.is_model_ready, "nope") == (NOT_FOUND, NAME_MISSING)
    assert failure(client.is_model_ready, "dummy", "2") == (NOT_FOUND, VERSION_MISSING)
    # Only "" means the default version; "0" names a version 0, which never exists.
    assert failure(client.is_model_ready, "dummy", "0") == (NOT_FOUND, VERSION_MISSING)
    bad_format = (INVALID, "invalid model version format in request")
    for version in ("x", "01", "+1", "-0", " 1"):
        assert failure(client.is_model_ready, "dummy", version) == bad_format
    assert failure(client.is_model_ready, "nope", "x") == (NOT_FOUND, NAME_MISSING)
    assert failure(client.is_model_ready, "dummy", "-3") == (NOT_FOUND, VERSION_MISSING)


def test_model_metadata_lists_tensors_by_name_without_special_inputs(client):
    two = client.get_model_metadata("two")
    assert (two.name, list(two.versions), two.platform) == ("two", ["1"], "OpenVINO")
    assert [(t.name, t.datatype, list(t.shape)) for t in two.inputs] == [
        ("a", "FP32", [1, 2]),
        ("b", "INT64", [-1, 3]),
    ]
    assert [(t.name, t.datatype, list(t.shape)) for t in two.outputs] == [
        ("a2", "FP32", [1, 2]),
        ("b1", "INT64", [-1, 3]),
    ]
    summator = client.get_model_metadata("summator", "1")
    assert [(t.name, t.datatype, list(t.shape)) for t in summator.inputs] == [("x", "FP32", [1, 1])]
    assert [t.name for t in summator.outputs] == ["y"]
    assert failure(client.get_model_metadata, "nope") == (NOT_FOUND, NAME_MISSING)
    assert failure(client.get_model_metadata, "two", "3") == (NOT_FOUND, VERSION_MISSING)
    bad_format = (INVALID, "invalid model version format in request")
    assert failure(client.get_model_metadata, "two", "v1") == bad_format


# --- Stateless inference ----------------------------------------------------------------------


def test_stateless_infer_matches_numpy(client):
    b = np.linspace(-1, 1, 10, dtype=np.float32).reshape(1, 10)
    result = client.infer("dummy", [infer_input("b", b)], request_id="req-7")
    np.testing.assert_array_equal(result.as_numpy("a"), b + np.float32(1))
    response = result.get_response()
    assert (response.model_name, response.model_version, response.id) == ("dummy", "1", "req-7")
    assert "sequence_id" not in response.parameters
    a = np.array([[3.25, -0.5]], np.float32)
    bb = np.arange(-6, 6, dtype=np.int64).reshape(4, 3)
    two = client.infer("two", [infer_input("b", bb), infer_input("a", a)], model_version="1")
    np.testing.assert_array_equal(two.as_numpy("a2"), a * 2)
    np.testing.assert_array_equal(two.as_numpy("b1"), bb + 1)
    assert [o.name for o in two.get_response().outputs] == ["a2", "b1"]


def test_typed_contents_are_read_by_datatype(client):
    request = service_pb2.ModelInferRequest(model_name="two", id="typed")
    a = request.inputs.add(name="a", datatype="FP32", shape=[1, 2])
    a.contents.fp32_contents.extend([0.25, 8.0])
    b = request.inputs.add(name="b", datatype="INT64", shape=[1, 3])
    b.contents.int64_contents.extend([-(2**20), 0, 7])
    response = send(client, request)
    assert response.id == "typed" and len(response.raw_output_contents) == 2
    a2 = np.frombuffer(response.raw_output_contents[0], np.float32)
    b1 = np.frombuffer(response.raw_output_contents[1], np.int64)
    np.testing.assert_array_equal(a2, np.array([0.25, 8.0], np.float32) * 2)
    np.testing.assert_array_equal(b1, np.array([-(2**20), 0, 7], np.int64) + 1)


def test_version_zero_and_empty_are_the_default_for_infer(client):
    b = np.zeros((1, 10), np.float32)
    for version in ("", "0"):
        result = client.infer("dummy", [infer_input("b", b)], model_version=version)
        np.testing.assert_array_equal(result.as_numpy("a"), b + 1)
        assert result.get_response().model_version == "1"


def test_infer_unknown_model_and_version(client):
    b = [infer_input("b", np.zeros((1, 10), np.float32))]
    assert failure(client.infer, "nope", b) == (NOT_FOUND, GRAPH_MISSING)
    assert failure(client.infer, "dummy", b, model_version="2") == (NOT_FOUND, VERSION_MISSING)
    bad_format = (INVALID, "invalid model version format in request")
    # The version format is checked before the name (OVMS's getModelInstance).
    assert failure(client.infer, "nope", b, model_version="one") == bad_format


# --- The order of checks ----------------------------------------------------------------------

A = "input name: input name: a"
ORDER_CASES = [
    ({"a": A_OK}, "Invalid number of inputs - Expected: 2; Actual: 1"),
    ({}, "Invalid number of inputs - Expected: 2; Actual: 0"),
    ({"a": A_OK, "b": B_OK, "c": B_OK}, "Invalid number of inputs - Expected: 2; Actual: 3"),
    ({"a": A_OK, "c": B_OK}, "Missing input with specific name - Required input: b"),
    # `a` is checked before `b` whatever the request's order.
    (
        {"b": ("FP32", [1, 3], b"\0" * 12), "a": ("INT64", [1, 2], b"\0" * 16)},
        f"Invalid input precision - Expected: FP32; Actual: INT64; {A}",
    ),
    (
        {"a": ("INT64", [1, -2], b""), "b": B_OK},
        f"Invalid input shape - Negative or zero dimension size is not acceptable: (1,-2); {A}",
    ),
    (
        {"a": ("FP32", [2], b"\0" * 8), "b": B_OK},
        f"Invalid number of shape dimensions - Expected: (1,2); Actual: (2); {A}",
    ),
    (
        {"a": ("FP32", [3, 5], b"\0" * 60), "b": B_OK},
        f"Invalid input batch size - Expected: 1; Actual: 3; {A}",
    ),
    (
        {"a": ("FP32", [1, 5], b"\0" * 20), "b": B_OK},
        f"Invalid input shape - Expected: (1,2); Actual: (1,5); {A}",
    ),
    (
        {"a": ("FP32", [1, 2], b"\0" * 4), "b": B_OK},
        f"Invalid content size of tensor proto - Expected: 8 bytes; Actual: 4 bytes; {A}",
    ),
    (
        {"a": A_OK, "b": ("INT64", [2, 3], b"\0" * 40)},
        "Invalid content size of tensor proto - Expected: 48 bytes; Actual: 40 bytes; "
        "input name: input name: b",
    ),
]


@pytest.mark.parametrize(("tensors", "message"), ORDER_CASES)
def test_validation_errors_in_ovms_order(client, tensors, message):
    assert failure(send, client, two_request(**tensors)) == (INVALID, message)


def test_mixed_raw_and_typed_contents(client):
    request = two_request(a=A_OK, b=B_OK)
    request.inputs[1].contents.int64_contents.extend([1, 2, 3])
    assert failure(send, client, request) == (INVALID, MIXED + "b")
    # The count comes first.
    request = two_request(a=A_OK)
    request.inputs[0].contents.fp32_contents.extend([1.0, 2.0])
    assert failure(send, client, request) == (
        INVALID,
        "Invalid number of inputs - Expected: 2; Actual: 1",
    )


def test_raw_buffer_count_must_match_inputs(client):
    request = two_request(a=A_OK, b=("INT64", [2, 3], None))
    assert failure(send, client, request) == (
        INVALID,
        "Number of raw_input_contents buffers does not match the number of inputs - "
        "Expected: 2; Actual: 1",
    )


def test_typed_value_count_and_wrong_field(client):
    request = service_pb2.ModelInferRequest(model_name="two")
    a = request.inputs.add(name="a", datatype="FP32", shape=[1, 2])
    a.contents.fp32_contents.extend([1.0])
    b = request.inputs.add(name="b", datatype="INT64", shape=[1, 3])
    b.contents.int64_contents.extend([1, 2, 3])
    count = "Invalid number of values in tensor proto container - Expected: 2 values; "
    assert failure(send, client, request) == (INVALID, count + f"Actual: 1 values; {A}")
    del a.contents.fp32_contents[:]
    a.contents.int_contents.extend([1, 2])  # the FP32 field is empty
    assert failure(send, client, request) == (INVALID, count + f"Actual: 0 values; {A}")


def test_bytes_input_is_not_implemented_like_ovms(client):
    request = two_request(a=("BYTES", [1, 2], b"\0" * 8), b=B_OK)
    assert failure(send, client, request) == ("StatusCode.UNKNOWN", "Unknown error")


def test_stateful_infer_is_not_implemented_by_default(client):
    unknown = ("StatusCode.UNKNOWN", "Unknown error")
    assert failure(client.infer, "summator", x_of(1.0)) == unknown
    assert failure(client.infer, "summator", x_of(1.0), sequence_id=5, sequence_start=True) == (
        unknown
    )
    # Before any validation: a wrong input gets the same answer.
    wrong = [infer_input("nope", np.zeros((3,), np.int32))]
    assert failure(client.infer, "summator", wrong) == unknown


# --- The sequence extension -------------------------------------------------------------------


def run_sequence(
    c: triton.InferenceServerClient, model: str, sequence_id: int | str, values: list[float]
) -> list[float]:
    """One whole sequence; the outputs, each checked to echo the sequence id."""
    outputs = []
    for step, value in enumerate(values):
        result = c.infer(
            model,
            x_of(value),
            sequence_id=sequence_id,
            sequence_start=step == 0,
            sequence_end=step == len(values) - 1,
        )
        parameter = result.get_response().parameters["sequence_id"]
        echoed = parameter.string_param if isinstance(sequence_id, str) else parameter.int64_param
        assert echoed == sequence_id
        outputs.append(float(result.as_numpy("y")[0, 0]))
    return outputs


@pytest.mark.parametrize(("model", "count"), [("summator", 30), ("batched", 12)])
def test_concurrent_sequences_match_numpy_running_sums(extension_server, model, count):
    rng = np.random.default_rng(3)
    inputs = {
        (1000 + i if i % 3 else f"text-{i}"): rng.integers(-50, 50, size=6).astype(np.float32)
        for i in range(count)
    }
    results: dict[int | str, list[float]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def worker(sequence_id: int | str, values: np.ndarray) -> None:
        try:
            with triton.InferenceServerClient(extension_server.grpc_address) as c:
                barrier.wait(60)
                results[sequence_id] = run_sequence(c, model, sequence_id, values.tolist())
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=item) for item in inputs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    for sequence_id, values in inputs.items():
        np.testing.assert_array_equal(results[sequence_id], np.cumsum(values, dtype=np.float32))


def test_string_id_sequence_ends_and_is_gone(ext):
    values = [2.5, -1.0, 4.0]
    assert run_sequence(ext, "summator", "chat-a", values) == list(np.cumsum(values))
    assert failure(ext.infer, "summator", x_of(1.0), sequence_id="chat-a") == (
        NOT_FOUND,
        SEQUENCE_MISSING,
    )
    # The name is free again: a new sequence of that name starts from zero.
    assert run_sequence(ext, "summator", "chat-a", [7.0, 1.0]) == [7.0, 8.0]


def test_start_and_end_in_one_request(ext):
    for sequence_id in (77, "once"):
        result = ext.infer(
            "summator", x_of(5.5), sequence_id=sequence_id, sequence_start=True, sequence_end=True
        )
        assert result.as_numpy("y")[0, 0] == np.float32(5.5)
        assert failure(ext.infer, "summator", x_of(1.0), sequence_id=sequence_id) == (
            NOT_FOUND,
            SEQUENCE_MISSING,
        )
        # It starts afresh: the one-request sequence left no state behind.
        assert run_sequence(ext, "summator", sequence_id, [1.0, 2.0]) == [1.0, 3.0]


def test_unknown_and_duplicate_sequences(ext):
    assert failure(ext.infer, "summator", x_of(1.0), sequence_id=424242) == (
        NOT_FOUND,
        SEQUENCE_MISSING,
    )
    assert failure(ext.infer, "summator", x_of(1.0), sequence_id="nobody", sequence_end=True) == (
        NOT_FOUND,
        SEQUENCE_MISSING,
    )
    for sequence_id in (4243, "dup"):
        ext.infer("summator", x_of(1.0), sequence_id=sequence_id, sequence_start=True)
        assert failure(
            ext.infer, "summator", x_of(1.0), sequence_id=sequence_id, sequence_start=True
        ) == ("StatusCode.ALREADY_EXISTS", SEQUENCE_EXISTS)
        ext.infer("summator", x_of(1.0), sequence_id=sequence_id, sequence_end=True)


def with_parameters(**parameters: object) -> service_pb2.ModelInferRequest:
    """A valid summator request with these request parameters, each in its natural field."""
    request = service_pb2.ModelInferRequest(model_name="summator")
    request.inputs.add(name="x", datatype="FP32", shape=[1, 1])
    request.raw_input_contents.append(np.array([[1.0]], np.float32).tobytes())
    for key, value in parameters.items():
        set_parameter(request.parameters[key], value)
    return request


MALFORMED = [
    ({}, NO_SEQUENCE_ID),
    ({"sequence_start": True}, NO_SEQUENCE_ID),
    (
        {"sequence_id": 5, "sequence_start": 1},
        BAD_PARAMETER + "sequence_start must be a bool parameter; got int 1",
    ),
    (
        {"sequence_id": 5, "sequence_end": "yes"},
        BAD_PARAMETER + "sequence_end must be a bool parameter; got string 'yes'",
    ),
    (
        {"sequence_id": True, "sequence_start": True},
        BAD_PARAMETER + "sequence_id must be an integer or a string parameter; got bool True",
    ),
    (
        {"sequence_id": 5.0},
        BAD_PARAMETER + "sequence_id must be an integer or a string parameter; got double 5.0",
    ),
    (
        {"sequence_id": -3, "sequence_start": True},
        BAD_PARAMETER + "sequence_id must not be negative; got -3",
    ),
    (
        {"sequence_id": "", "sequence_start": True},
        BAD_PARAMETER + "sequence_id must not be an empty string",
    ),
    ({"sequence_id": 0, "sequence_start": True}, BAD_PARAMETER + "sequence_id must not be 0"),
]


@pytest.mark.parametrize(("parameters", "message"), MALFORMED)
def test_malformed_sequence_parameters(ext, parameters, message):
    assert failure(send, ext, with_parameters(**parameters)) == (INVALID, message)


def test_parameters_are_read_before_inputs_and_uint64_ids_work(ext):
    wrong = service_pb2.ModelInferRequest(model_name="summator")
    wrong.inputs.add(name="nope", datatype="INT8", shape=[1])
    assert failure(send, ext, wrong) == (INVALID, NO_SEQUENCE_ID)
    wrong.parameters["sequence_id"].int64_param = 9
    wrong.parameters["sequence_start"].bool_param = True
    assert failure(send, ext, wrong) == (
        INVALID,
        "Missing input with specific name - Required input: x",
    )
    request = with_parameters(sequence_start=True)
    request.parameters["sequence_id"].uint64_param = 2**64 - 2
    response = send(ext, request)
    assert response.parameters["sequence_id"].uint64_param == 2**64 - 2
    request = with_parameters(sequence_end=True)
    request.parameters["sequence_id"].uint64_param = 2**64 - 2
    assert np.frombuffer(send(ext, request).raw_output_contents[0], np.float32)[0] == 2.0


def test_stateless_models_ignore_sequence_parameters(ext):
    b = np.full((1, 10), 2.0, np.float32)
    result = ext.infer("dummy", [infer_input("b", b)], sequence_id="whatever", sequence_end=True)
    np.testing.assert_array_equal(result.as_numpy("a"), b + 1)
    assert "sequence_id" not in result.get_response().parameters


def test_sequence_limit_counts_named_and_numbered_sequences(ext):
    for sequence_id in (1, "two", 3):
        ext.infer("limited", x_of(1.0), sequence_id=sequence_id, sequence_start=True)
    for sequence_id in (4, "five"):
        assert failure(
            ext.infer, "limited", x_of(1.0), sequence_id=sequence_id, sequence_start=True
        ) == ("StatusCode.UNAVAILABLE", MAX_SEQUENCES)
    ext.infer("limited", x_of(1.0), sequence_id="two", sequence_end=True)
    ext.infer("limited", x_of(1.0), sequence_id="five", sequence_start=True)
    for sequence_id in (1, 3, "five"):
        ext.infer("limited", x_of(1.0), sequence_id=sequence_id, sequence_end=True)


def test_idle_cleanup_removes_a_string_id_sequence(ext):
    ext.infer("idle", x_of(3.0), sequence_id="sleepy", sequence_start=True)
    time.sleep(4 * CLEANER_SECONDS)  # one scan marks it idle, the next removes it
    assert failure(ext.infer, "idle", x_of(0.0), sequence_id="sleepy") == (
        NOT_FOUND,
        SEQUENCE_MISSING,
    )
    # Its name is free: a new sequence of that name starts from zero.
    assert run_sequence(ext, "idle", "sleepy", [4.0, 1.0]) == [4.0, 5.0]


def test_stream_infer_finds_no_mediapipe_graph(client):
    errors: list[InferenceServerException] = []
    done = threading.Event()

    def callback(result, error):
        errors.append(error)
        done.set()

    client.start_stream(callback)
    try:
        client.async_stream_infer("dummy", [infer_input("b", np.zeros((1, 10), np.float32))])
        assert done.wait(30)
    finally:
        client.stop_stream()
    assert [(str(e.status()), e.message()) for e in errors] == [(NOT_FOUND, GRAPH_MISSING)]
