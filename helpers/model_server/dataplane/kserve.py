"""The KServe v2 data plane, wire-neutral: OVMS's answers to readiness, metadata and ModelInfer.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.

Both KServe front ends (gRPC `inference.GRPCInferenceService`, REST `/v2/...`) decode their wire
form into a `KServeRequest`, call `kserve_infer`, and encode the `KServeResult`; errors are
`ServingError`s (their `Code` gives the gRPC and HTTP status). The messages live in
`kserve_messages.py`, which the input checks (`kserve_validation.py`) read too. The request
mirrors the gRPC
`ModelInferRequest`, as OVMS's REST parser builds that same message from a REST body:

* a JSON input's `data` (flattened) goes in `KServeInput.contents`;
* binary-extension data (REST `binary_data_size`) goes in `KServeRequest.raw_input_contents`, one
  buffer per input, in input order, the input's `contents` left None. A body that mixes the two
  gets OVMS's INVALID_MESSAGE_STRUCTURE error, as in OVMS.

Model versions are strings (`""` = the default version), parsed like OVMS's `stoi64`.
"""

from collections.abc import Mapping

from helpers.model_server.core.manager import ModelManager
from helpers.model_server.core.servable import Servable
from helpers.model_server.dataplane.kserve_messages import (
    PLATFORM,
    SEQUENCE_EXTENSIONS,
    KServeModelMetadata,
    KServeRequest,
    KServeResult,
    KServeServerMetadata,
    KServeTensorMetadata,
)
from helpers.model_server.dataplane.kserve_sequences import sequence_request_from_parameters
from helpers.model_server.dataplane.kserve_validation import decode_inputs
from helpers.model_server.protocol.dtypes import kserve_datatype
from helpers.model_server.protocol.signature import DYNAMIC, TensorSpec
from helpers.model_server.protocol.status import Code, ServingError
from helpers.model_server.protocol.wire import VersionState


def parse_version(text: str) -> int | None:
    """OVMS's `stoi64`: an optional `-`, digits, no leading zero, within int64; else None."""
    digits = text[1:] if text.startswith("-") else text
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    if len(text) > 1 and text[1 if text.startswith("-") else 0] == "0":
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


def _version_or_error(text: str) -> int:
    """The version number a non-empty version string names, or MODEL_VERSION_INVALID_FORMAT."""
    version = parse_version(text)
    if version is None:
        raise ServingError(Code.MODEL_VERSION_INVALID_FORMAT)
    return version


def server_metadata(sequence_extension: bool = False) -> KServeServerMetadata:
    """ServerMetadata, as OVMS answers it; ours: the sequence extension's names when it is on."""
    return KServeServerMetadata(extensions=SEQUENCE_EXTENSIONS if sequence_extension else ())


def kserve_model_ready(manager: ModelManager, name: str, version: str) -> bool:
    """ModelReady: True when the version (default: the default version) is AVAILABLE.

    Errors in OVMS's order: unknown name, bad version format, unknown version ("0" is unknown:
    only the empty string means the default version here).
    """
    model = manager.models.get(name)
    if model is None:
        raise ServingError(Code.MODEL_NAME_MISSING)
    if not version:
        if model.default is None:
            raise ServingError(Code.MODEL_VERSION_MISSING)
        return True
    entry = model.versions.get(_version_or_error(version))
    if entry is None:
        raise ServingError(Code.MODEL_VERSION_MISSING)
    return entry.state == VersionState.AVAILABLE


def _tensor_metadata(specs: Mapping[str, TensorSpec]) -> tuple[KServeTensorMetadata, ...]:
    """The tensors of ModelMetadata, sorted by name as OVMS's tensor map is."""
    return tuple(
        KServeTensorMetadata(
            spec.name,
            kserve_datatype(spec.element),
            tuple(DYNAMIC if d == DYNAMIC else d for d in spec.shape),
        )
        for spec in sorted(specs.values(), key=lambda s: s.name)
    )


def kserve_model_metadata(manager: ModelManager, name: str, version: str) -> KServeModelMetadata:
    """ModelMetadata of a version (default: the default version); special inputs never appear."""
    model = manager.models.get(name)
    if model is None:
        raise ServingError(Code.MODEL_NAME_MISSING)
    number = _version_or_error(version) if version else 0
    if version and number == 0:
        raise ServingError(Code.MODEL_VERSION_MISSING)
    servable = manager.resolve(name, number)
    ready = {v for v, entry in model.versions.items() if entry.state == VersionState.AVAILABLE} | {
        servable.version
    }
    return KServeModelMetadata(
        name=servable.name,
        versions=tuple(str(v) for v in sorted(ready)),
        platform=PLATFORM,
        inputs=_tensor_metadata(servable.inputs),
        outputs=_tensor_metadata(servable.outputs),
    )


def resolve_for_infer(manager: ModelManager, request: KServeRequest) -> Servable:
    """The servable of a ModelInfer: version format first, then name, then version (OVMS)."""
    version = _version_or_error(request.model_version) if request.model_version else 0
    try:
        return manager.resolve(request.model_name, version)
    except ServingError as error:
        if error.code == Code.MODEL_NAME_MISSING:
            # OVMS then looks for a DAG and a MediaPipe graph of that name: the last one answers.
            raise ServingError(Code.MEDIAPIPE_DEFINITION_NAME_MISSING) from error
        raise


def kserve_infer(
    manager: ModelManager, request: KServeRequest, sequence_extension: bool
) -> KServeResult:
    """Run one ModelInfer in OVMS's order of checks; raises ServingError.

    Stateless models ignore sequence parameters (as Triton does for a model without a sequence
    batcher). A stateful model gets NOT_IMPLEMENTED (OVMS 2026.2), unless `sequence_extension`
    is on: then its sequence comes from the `sequence_id`, `sequence_start` and `sequence_end`
    parameters (see `kserve_sequences`), read before the inputs are validated, as OVMS reads the
    special inputs of a TFS request.
    """
    servable = resolve_for_infer(manager, request)
    sequence_request = None
    if servable.stateful:
        if not sequence_extension:
            raise ServingError(Code.NOT_IMPLEMENTED)
        sequence_request = sequence_request_from_parameters(request.parameters)
    if servable.controls is not None:
        servable.controls.refuse_sent({tensor.name for tensor in request.inputs})
    arrays = decode_inputs(servable.inputs, request.inputs, request.raw_input_contents)
    sequence_id: int | str | None = None
    if sequence_request is None:
        outputs = servable.infer(arrays)
    else:
        outputs, number = servable.infer_in_sequence(arrays, sequence_request)
        name = sequence_request.name
        sequence_id = name if name is not None else number
    return KServeResult(
        model_name=servable.name,
        model_version=str(servable.version),
        id=request.id,
        outputs={key: outputs[key] for key in sorted(outputs)},
        sequence_id=sequence_id,
    )
