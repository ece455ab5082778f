"""The KServe data plane without a server: versions, sequence parameters, named sequences,
typed contents, ModelReady and ModelMetadata of versions that are not AVAILABLE."""

from pathlib import Path

import numpy as np
import openvino as ov
import pytest

from helpers.model_server.config.model_config import ModelConfig
from helpers.model_server.core.manager import ModelManager, ModelVersion, ServedModel
from helpers.model_server.core.sequences import (
    NAMED_FIRST_ID,
    ExtendedSequenceRequest,
    SequenceManager,
)
from helpers.model_server.core.servable import Servable
from helpers.model_server.dataplane.kserve import (
    kserve_model_metadata,
    kserve_model_ready,
    parse_version,
)
from helpers.model_server.dataplane.kserve_messages import KServeInput
from helpers.model_server.dataplane.kserve_sequences import sequence_request_from_parameters
from helpers.model_server.dataplane.kserve_validation import decode_inputs
from helpers.model_server.protocol.dtypes import BY_NUMPY
from helpers.model_server.protocol.signature import TensorSpec
from helpers.model_server.protocol.status import Code, ServingError
from helpers.serving.protocol import UINT64_MAX, Control, VersionState


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1", 1),
        ("0", 0),
        ("-7", -7),
        ("9223372036854775807", 2**63 - 1),
        ("9223372036854775808", None),
        ("01", None),
        ("-0", None),
        ("+1", None),
        (" 1", None),
        ("1.0", None),
        ("-", None),
        ("\u0661", None),  # a non-ASCII digit
    ],
)
def test_versions_parse_like_ovms_stoi64(text, number):
    assert parse_version(text) == number


@pytest.mark.parametrize(
    ("parameters", "control", "one_shot"),
    [
        (
            {"sequence_id": 5, "sequence_start": True, "sequence_end": False},
            Control.SEQUENCE_START,
            False,
        ),
        (
            {"sequence_id": 5, "sequence_start": False, "sequence_end": True},
            Control.SEQUENCE_END,
            False,
        ),
        (
            {"sequence_id": 5, "sequence_start": False, "sequence_end": False},
            Control.NO_CONTROL,
            False,
        ),
        ({"sequence_id": 5}, Control.NO_CONTROL, False),
        (
            {"sequence_id": 5, "sequence_start": True, "sequence_end": True},
            Control.SEQUENCE_START,
            True,
        ),
    ],
)
def test_sequence_parameters_map_onto_controls(parameters, control, one_shot):
    request = sequence_request_from_parameters(parameters)
    assert (request.sequence_id, request.control, request.one_shot, request.name) == (
        5,
        control,
        one_shot,
        None,
    )


def test_string_and_uint64_ids():
    named = sequence_request_from_parameters({"sequence_id": "chat", "sequence_start": True})
    assert (named.name, named.sequence_id, named.control) == ("chat", 0, Control.SEQUENCE_START)
    assert sequence_request_from_parameters({"sequence_id": UINT64_MAX}).sequence_id == UINT64_MAX
    with pytest.raises(ServingError) as caught:
        sequence_request_from_parameters({"sequence_id": UINT64_MAX + 1})
    assert caught.value.code == Code.INVALID_SEQUENCE_PARAMETER
    assert caught.value.code.grpc_code.name == "INVALID_ARGUMENT"


def start(manager: SequenceManager, name: str, one_shot: bool = False):
    """Claim a START of a named sequence."""
    return manager.claim(
        ExtendedSequenceRequest(0, Control.SEQUENCE_START, name=name, one_shot=one_shot)
    )


def step(manager: SequenceManager, name: str, control: Control = Control.NO_CONTROL):
    """Claim a later request of a named sequence."""
    return manager.claim(ExtendedSequenceRequest(0, control, name=name))


def code_of(call, *args) -> Code:
    """The status code a call fails with."""
    with pytest.raises(ServingError) as caught:
        call(*args)
    return caught.value.code


def test_named_sequences_get_ids_of_their_own_range_and_free_their_names_at_end():
    manager = SequenceManager(10, "m")
    a = start(manager, "a")
    manager.release(a, remove=False)
    assert a.sequence_id >= NAMED_FIRST_ID and manager.named_ids() == {"a": a.sequence_id}
    assert code_of(start, manager, "a") == Code.SEQUENCE_ALREADY_EXISTS
    # A numbered request never reaches a named sequence, even by its id.
    plain = ExtendedSequenceRequest(a.sequence_id, Control.NO_CONTROL)
    assert code_of(manager.claim, plain) == Code.SEQUENCE_MISSING
    again = step(manager, "a")
    assert again is a
    manager.release(again, remove=False)
    end = step(manager, "a", Control.SEQUENCE_END)
    manager.release(end, remove=True)
    assert manager.named_ids() == {} and len(manager) == 0
    assert code_of(step, manager, "a") == Code.SEQUENCE_MISSING


def test_idle_cleanup_and_introspection_end_free_names():
    manager = SequenceManager(10, "m")
    for name in ("idle", "ended"):
        manager.release(start(manager, name), remove=False)
    ended_id = manager.named_ids()["ended"]
    assert manager.end(ended_id) is True
    assert manager.named_ids().keys() == {"idle"}
    assert manager.remove_idle() == []  # marks
    assert len(manager.remove_idle()) == 1  # removes
    assert manager.named_ids() == {} and len(manager) == 0


def test_one_shot_sequence_is_private_and_removed_on_release():
    manager = SequenceManager(10, "m")
    once = start(manager, "once", one_shot=True)
    assert code_of(step, manager, "once") == Code.SEQUENCE_MISSING
    assert code_of(start, manager, "once") == Code.SEQUENCE_TERMINATED
    manager.release(once, remove=False)
    assert once.removed and manager.named_ids() == {} and len(manager) == 0
    numbered = manager.claim(ExtendedSequenceRequest(9, Control.SEQUENCE_START, one_shot=True))
    manager.release(numbered, remove=False)
    assert len(manager) == 0


def test_named_sequences_count_against_the_limit():
    manager = SequenceManager(2, "m")
    manager.release(start(manager, "a"), remove=False)
    manager.release(manager.claim(ExtendedSequenceRequest(1, Control.SEQUENCE_START)), False)
    assert code_of(start, manager, "b") == Code.MAX_SEQUENCE_NUMBER_REACHED
    assert manager.named_ids().keys() == {"a"}


def spec(name: str, dtype: type, shape: tuple[int, ...]) -> TensorSpec:
    """A model input spec."""
    return TensorSpec(name, BY_NUMPY[np.dtype(dtype)], shape)


@pytest.mark.parametrize(
    ("dtype", "datatype", "values"),
    [
        (np.uint8, "UINT8", [0, 255, 7]),
        (np.int8, "INT8", [-128, 127, 0]),
        (np.uint16, "UINT16", [65535, 1, 2]),
        (np.bool_, "BOOL", [True, False, True]),
        (np.float64, "FP64", [0.1, -2.5, 1e300]),
        (np.uint64, "UINT64", [2**64 - 1, 0, 3]),
    ],
)
def test_typed_contents_become_arrays_of_the_model_type(dtype, datatype, values):
    specs = {"t": spec("t", dtype, (1, 3))}
    arrays = decode_inputs(specs, [KServeInput("t", datatype, (1, 3), values)], ())
    expected = np.array(values, dtype=dtype).reshape(1, 3)
    assert arrays["t"].dtype == np.dtype(dtype)
    np.testing.assert_array_equal(arrays["t"], expected)


def test_fp16_has_no_typed_field_but_raw_works():
    specs = {"h": spec("h", np.float16, (2,))}
    with pytest.raises(ServingError) as caught:
        decode_inputs(specs, [KServeInput("h", "FP16", (2,), [1.0, 2.0])], ())
    assert str(caught.value) == (
        "Invalid number of values in tensor proto container - Expected: 2 values; "
        "Actual: 0 values; input name: input name: h"
    )
    raw = np.array([0.5, -1.0], np.float16)
    arrays = decode_inputs(specs, [KServeInput("h", "FP16", (2,))], [raw.tobytes()])
    np.testing.assert_array_equal(arrays["h"], raw)


def test_shape_overflow_is_a_content_size_error():
    specs = {"d": spec("d", np.float32, (-1, -1))}
    tensor = KServeInput("d", "FP32", (2**40, 2**40), [])
    with pytest.raises(ServingError) as caught:
        decode_inputs(specs, [tensor], ())
    assert str(caught.value) == (
        "Invalid content size of tensor proto - Shape dimensions overflow; "
        "input name: input name: d"
    )


def fake_servable(version: int) -> Servable:
    """A servable with one input and output (never run)."""
    specs = {"x": spec("x", np.float32, (1, 1))}
    return Servable("m", version, specs, specs, pool=None, sequences=None)  # type: ignore[arg-type]


def test_ready_and_metadata_of_versions_that_are_not_available(tmp_path: Path):
    manager = ModelManager(ov.Core())
    model = ServedModel(ModelConfig(name="m", base_path=tmp_path))
    model.versions[1] = ModelVersion(1, VersionState.AVAILABLE, servable=fake_servable(1))
    model.versions[2] = ModelVersion(2, VersionState.LOADING)
    model.versions[3] = ModelVersion(3, VersionState.END)
    model.refresh_default()
    manager.models["m"] = model
    assert kserve_model_ready(manager, "m", "") is True
    assert kserve_model_ready(manager, "m", "1") is True
    assert kserve_model_ready(manager, "m", "2") is False
    assert kserve_model_ready(manager, "m", "3") is False
    metadata = kserve_model_metadata(manager, "m", "")
    assert (metadata.versions, [i.name for i in metadata.inputs]) == (("1",), ["x"])
    assert code_of(kserve_model_metadata, manager, "m", "2") == Code.MODEL_VERSION_NOT_LOADED_YET
    assert code_of(kserve_model_metadata, manager, "m", "3") == (
        Code.MODEL_VERSION_NOT_LOADED_ANYMORE
    )
    model.versions[1].state = VersionState.UNLOADING
    model.refresh_default()
    assert code_of(kserve_model_ready, manager, "m", "") == Code.MODEL_VERSION_MISSING
