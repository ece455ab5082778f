"""Triton's sequence control inputs (ours): the server fills START, END, READY and CORRID on every
step; clients never send them; metadata hides them; a model that cannot take them fails to load.
Expected outputs come from NumPy."""

from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

from helpers.model_server.config.control_inputs import parse_control_inputs
from helpers.model_server.config.model_config import (
    CONTROL_INPUTS_NEED_STATEFUL,
    ModelConfig,
    ModelConfigError,
    model_config_from_entry,
)
from helpers.model_server.core.loader import LoadError, load_servable
from helpers.models.summator import make_variable
from helpers.serving import launcher
from helpers.serving.repository import write_model_repository
from tests.server.support.requests import END, START, output, predict, predict_error, request
from tests.server.support.servers import serve_repository

END_TRUE = 2  # END's configured "true": the model sees 2, not 1


def _flag(kind: str, field: str, pair: list[object], name: str) -> dict[str, object]:
    """One control_input entry as Triton writes it."""
    return {"name": name, "control": [{"kind": f"CONTROL_SEQUENCE_{kind}", field: pair}]}


DYNA_CONTROLS = [
    _flag("START", "int32_false_true", [0, 1], "START"),
    _flag("END", "int32_false_true", [0, END_TRUE], "END"),
    _flag("READY", "int32_false_true", [0, 1], "READY"),
    {
        "name": "CORRID",
        "control": [{"kind": "CONTROL_SEQUENCE_CORRID", "data_type": "TYPE_UINT64"}],
    },
]
SUM_CONTROLS = [
    _flag("START", "fp32_false_true", [0.0, 1.0], "first"),
    _flag("END", "bool_false_true", [False, True], "last"),
]


def _parameter(name: str, shape: list[int], dtype: object) -> ov.Node:
    """A named Parameter."""
    parameter = ops.parameter(shape, dtype, name=name)
    parameter.output(0).set_names({name})
    return parameter


def build_dyna_sequence() -> ov.Model:
    """Triton's `simple_dyna_sequence` without state: OUTPUT = READY*(INPUT+START) + END*CORRID."""
    names = ("INPUT", "START", "END", "READY")
    given, start, end, ready = (_parameter(n, [1, 1], np.int32) for n in names)
    corrid = _parameter("CORRID", [1, 1], np.uint64)
    first = ops.convert(ops.multiply(ready, ops.add(given, start)), np.int64)
    second = ops.multiply(ops.convert(end, np.int64), ops.convert(corrid, np.int64))
    result = ops.result(ops.add(first, second))
    result.output(0).set_names({"OUTPUT"})
    return ov.Model([result], [given, start, end, ready, corrid], "dyna")


def dyna_expected(value: int, start: bool, end: bool, sequence_id: int) -> int:
    """NumPy's OUTPUT of one step."""
    return int(np.int64(1) * (value + int(start)) + np.int64(END_TRUE if end else 0) * sequence_id)


def build_flagged_summator() -> ov.Model:
    """x [1,1] f32 -> y = running sum + 100*first, z = running sum where last, else -1."""
    x = _parameter("x", [1, 1], np.float32)
    first = _parameter("first", [1], np.float32)
    last = _parameter("last", [1], np.bool_)
    variable = make_variable("sum")
    total = ops.add(ops.read_value(ops.constant(np.zeros((1, 1), np.float32)), variable), x)
    y = ops.result(ops.add(total, ops.multiply(first, ops.constant(np.float32(100)))))
    y.output(0).set_names({"y"})
    z = ops.result(ops.select(last, total, ops.constant(np.full((1, 1), -1, np.float32))))
    z.output(0).set_names({"z"})
    return ov.Model([y, z], [ops.assign(total, variable)], [x, first, last], "flagged")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[launcher.ServerHandle]:
    """`dyna` (stateless, four control inputs), `flagged` and `flagged_b` (batched)."""
    flagged = {"base_path": "flagged", "stateful": True}
    config = [
        {"name": "dyna", "stateful": True, "sequence_batching": {"control_input": DYNA_CONTROLS}},
        {"name": "flagged", **flagged, "sequence_batching": {"control_input": SUM_CONTROLS}},
        {
            "name": "flagged_b",
            **flagged,
            "sequence_batching": {"control_input": SUM_CONTROLS, "max_batch_size": 8},
        },
    ]
    models = {"dyna": build_dyna_sequence(), "flagged": build_flagged_summator()}
    with serve_repository(
        tmp_path_factory.mktemp("controls"),
        models,
        config,
        file_poll_seconds=0,
        extra_args=["--kserve_sequence_extension"],
    ) as handle:
        yield handle


def int_input(value: int) -> list[triton.InferInput]:
    """`INPUT` holding one int32."""
    tensor = triton.InferInput("INPUT", [1, 1], "INT32")
    tensor.set_data_from_numpy(np.array([[value]], np.int32))
    return [tensor]


def test_a_stateless_model_computes_from_its_control_inputs_over_kserve(server):
    values = [3, -1, 4, 1, 5]
    with triton.InferenceServerClient(server.grpc_address) as client:
        # Ids below 2**31: the CPU plugin computes 64-bit integers in 32 bits.
        for sequence_id in (1000, 1001, 123_456_789):
            got = []
            for index, value in enumerate(values):
                start, end = index == 0, index == len(values) - 1
                result = client.infer(
                    "dyna",
                    int_input(value),
                    sequence_id=sequence_id,
                    sequence_start=start,
                    sequence_end=end,
                )
                got.append(int(result.as_numpy("OUTPUT").item()))
            want = [
                dyna_expected(v, i == 0, i == len(values) - 1, sequence_id)
                for i, v in enumerate(values)
            ]
            assert got == want


def test_control_inputs_are_filled_over_a_stream(server):
    replies: list[tuple[object, object]] = []
    with triton.InferenceServerClient(server.grpc_address) as client:
        client.start_stream(lambda result, error: replies.append((result, error)))
        for index, value in enumerate([7, 8, 9]):
            client.async_stream_infer(
                "dyna",
                int_input(value),
                sequence_id=993,
                sequence_start=index == 0,
                sequence_end=index == 2,
            )
        client.stop_stream()
    assert [error for _, error in replies] == [None, None, None]
    got = [int(result.as_numpy("OUTPUT").item()) for result, _ in replies]
    assert got == [dyna_expected(7, True, False, 993), 8, dyna_expected(9, False, True, 993)]


def test_corrid_is_the_id_the_server_generates_over_tfs(server):
    with grpc.insecure_channel(server.grpc_address) as channel:
        inputs = {"INPUT": np.array([[5]], np.int32)}
        first = predict(channel, request("dyna", inputs, 0, START))
        generated = int(output(first, "sequence_id").item())
        assert output(first, "OUTPUT").item() == dyna_expected(5, True, False, generated)
        last = predict(channel, request("dyna", inputs, generated, END))
        assert output(last, "OUTPUT").item() == dyna_expected(5, False, True, generated)


def test_a_string_id_does_not_fit_a_numeric_corrid(server):
    with (
        triton.InferenceServerClient(server.grpc_address) as client,
        pytest.raises(InferenceServerException) as refused,
    ):
        client.infer("dyna", int_input(1), sequence_id="abc", sequence_start=True)
    assert refused.value.message() == (
        "Invalid sequence parameter - sequence_id 'abc' does not fit the model's CORRID input "
        "CORRID (uint64)"
    )


@pytest.mark.parametrize("model", ["flagged", "flagged_b"])
def test_a_stateful_model_takes_fp32_and_bool_control_inputs(server, model):
    values = np.array([1.5, -2.0, 4.0, 0.25], np.float32)
    with triton.InferenceServerClient(server.grpc_address) as client:
        got_y, got_z = [], []
        for index, value in enumerate(values):
            tensor = triton.InferInput("x", [1, 1], "FP32")
            tensor.set_data_from_numpy(np.array([[value]], np.float32))
            result = client.infer(
                model,
                [tensor],
                sequence_id=50,
                sequence_start=index == 0,
                sequence_end=index == len(values) - 1,
            )
            got_y.append(result.as_numpy("y").item())
            got_z.append(result.as_numpy("z").item())
    sums = np.cumsum(values)
    assert got_y == (sums + 100 * (np.arange(len(values)) == 0)).tolist()
    assert got_z == np.where(np.arange(len(values)) == len(values) - 1, sums, -1).tolist()


def test_metadata_hides_control_inputs_and_sending_one_is_refused(server):
    with triton.InferenceServerClient(server.grpc_address) as client:
        assert [t.name for t in client.get_model_metadata("dyna").inputs] == ["INPUT"]
        start = triton.InferInput("START", [1, 1], "INT32")
        start.set_data_from_numpy(np.array([[1]], np.int32))
        with pytest.raises(InferenceServerException) as refused:
            client.infer("dyna", [*int_input(1), start], sequence_id=5, sequence_start=True)
    message = (
        "Sequence control inputs are filled by the server and must not be sent - input START is "
        "the model's CONTROL_SEQUENCE_START control input"
    )
    assert refused.value.message() == message
    with grpc.insecure_channel(server.grpc_address) as channel:
        inputs = {"INPUT": np.array([[1]], np.int32), "READY": np.array([[1]], np.int32)}
        code, details = predict_error(channel, request("dyna", inputs, 6, START))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details == message.replace("START is", "READY is").replace("_START", "_READY")


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (
            [{"name": "START", "control": [{"kind": "CONTROL_SEQUENCE_BEGIN"}]}],
            "control_input START: unknown kind 'CONTROL_SEQUENCE_BEGIN'",
        ),
        (
            [_flag("START", "int32_false_true", [0], "START")],
            "control_input START: int32_false_true must be a list of two values of its type",
        ),
        (
            [{"name": "ID", "control": [{"kind": "CONTROL_SEQUENCE_CORRID"}]}],
            "control_input ID: CONTROL_SEQUENCE_CORRID needs a data_type",
        ),
        (
            [
                _flag("START", "int32_false_true", [0, 1], "A"),
                _flag("START", "int32_false_true", [0, 1], "B"),
            ],
            "control_input: CONTROL_SEQUENCE_START is given to more than one input",
        ),
    ],
)
def test_a_malformed_control_input_is_refused_naming_it(entry, reason):
    with pytest.raises(ModelConfigError) as refused:
        model_config_from_entry(
            {"name": "m", "stateful": True, "sequence_batching": {"control_input": entry}},
            Path("."),
        )
    assert str(refused.value).startswith(reason)


def test_control_inputs_need_a_stateful_model():
    with pytest.raises(ModelConfigError) as refused:
        model_config_from_entry(
            {"name": "m", "sequence_batching": {"control_input": DYNA_CONTROLS}}, Path(".")
        )
    assert str(refused.value) == CONTROL_INPUTS_NEED_STATEFUL


@pytest.mark.parametrize(
    ("controls", "reason"),
    [
        (
            [_flag("START", "int32_false_true", [0, 1], "BEGIN")],
            "control input BEGIN (CONTROL_SEQUENCE_START) is not an input of the model",
        ),
        (
            [_flag("START", "fp32_false_true", [0.0, 1.0], "START")],
            "control input START (CONTROL_SEQUENCE_START) is filled with float32 but the model "
            "input takes int32",
        ),
        (
            [_flag("START", "int32_false_true", [0, 1], "WIDE")],
            "control input WIDE (CONTROL_SEQUENCE_START) needs an input of one element; the "
            "model input has shape [1, 2]",
        ),
    ],
)
def test_a_model_that_cannot_take_its_control_inputs_fails_to_load(tmp_path, controls, reason):
    given = _parameter("INPUT", [1, 1], np.int32)
    start = _parameter("START", [1, 1], np.int32)
    wide = _parameter("WIDE", [1, 2], np.int32)
    total = ops.add(ops.add(given, start), ops.reduce_sum(wide, ops.constant([1]), True))
    result = ops.result(total)
    result.output(0).set_names({"OUTPUT"})
    write_model_repository(ov.Model([result], [given, start, wide], "m"), tmp_path, "m")
    config = ModelConfig(
        "m", tmp_path / "m", stateful=True, control_inputs=parse_control_inputs(controls)
    )
    with pytest.raises(LoadError) as refused:
        load_servable(ov.Core(), config, 1)
    assert str(refused.value) == reason
