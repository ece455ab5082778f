"""GetModelMetadata and GetModelStatus responses, shared by the gRPC and REST front ends.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

from helpers.model_server.core.manager import ModelManager
from helpers.model_server.core.servable import Servable
from helpers.model_server.protocol.protos import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    meta_graph_pb2,
)
from helpers.model_server.protocol.signature import TensorSpec
from helpers.model_server.protocol.wire import VersionState

SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
_ERROR_CODES = {"OK": 0, "UNKNOWN": 2, "FAILED_PRECONDITION": 9}


def _fill_tensor_info(info: meta_graph_pb2.TensorInfo, spec: TensorSpec) -> None:
    """Describe one input or output in a TensorInfo."""
    info.name = spec.name
    info.dtype = spec.element.tf_dtype
    for size in spec.shape:
        info.tensor_shape.dim.add().size = size


def metadata_response(servable: Servable) -> get_model_metadata_pb2.GetModelMetadataResponse:
    """The model's own inputs and outputs; the special inputs never appear."""
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = servable.name
    response.model_spec.version.value = servable.version
    signatures = get_model_metadata_pb2.SignatureDefMap()
    signature = signatures.signature_def[SIGNATURE]
    signature.method_name = PREDICT_METHOD
    for spec in servable.inputs.values():
        _fill_tensor_info(signature.inputs[spec.name], spec)
    for spec in servable.outputs.values():
        _fill_tensor_info(signature.outputs[spec.name], spec)
    response.metadata["signature_def"].Pack(signatures)
    return response


def status_response(
    manager: ModelManager, name: str, version: int
) -> get_model_status_pb2.GetModelStatusResponse:
    """One ModelVersionStatus per version (or the one asked for)."""
    response = get_model_status_pb2.GetModelStatusResponse()
    for entry in manager.status(name, version):
        status = response.model_version_status.add()
        status.version = entry.version
        status.state = int(entry.state)
        failed = entry.state == VersionState.LOADING and entry.error
        status.status.error_code = _ERROR_CODES["UNKNOWN" if failed else "OK"]
        status.status.error_message = entry.error if failed else "OK"
    return response
