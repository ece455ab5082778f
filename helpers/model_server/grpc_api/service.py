"""The gRPC front end: PredictionService (Predict, GetModelMetadata) and ModelService.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

import logging
from concurrent import futures

import grpc

from helpers.model_server.core.manager import ModelManager
from helpers.model_server.dataplane.metadata import metadata_response, status_response
from helpers.model_server.dataplane.predict import run_predict
from helpers.model_server.grpc_api.kserve_service import KServeService, kserve_handler
from helpers.model_server.grpc_api.streams import OpenStreams
from helpers.model_server.grpc_api.tensors import PROTO_INPUTS, fill_proto, fill_sequence_id
from helpers.model_server.protocol.protos import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from helpers.model_server.protocol.status import Code, ServingError

log = logging.getLogger("model_server.grpc")

MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def _version(model_spec: model_pb2.ModelSpec) -> int:
    """The requested version number, 0 when none is given."""
    return model_spec.version.value if model_spec.HasField("version") else 0


def _fail(context: grpc.ServicerContext, error: ServingError) -> None:
    """Set the status of a failed call (no exception unwinding through gRPC)."""
    context.set_code(error.code.grpc_code)
    context.set_details(str(error))


def predict(
    manager: ModelManager, request: predict_pb2.PredictRequest
) -> predict_pb2.PredictResponse:
    """Run one Predict through the shared pipeline; the outputs as TensorProtos."""
    spec = request.model_spec
    _, outputs, sequence_id = run_predict(
        manager, spec.name, _version(spec), request.inputs, PROTO_INPUTS
    )
    response = predict_pb2.PredictResponse()
    if sequence_id is not None:
        fill_sequence_id(response, sequence_id)
    response_outputs = response.outputs
    for name, array in outputs.items():
        fill_proto(response_outputs[name], array)
    return response


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict and GetModelMetadata over the model manager."""

    def __init__(self, manager: ModelManager) -> None:
        self.manager = manager

    def Predict(
        self, request: predict_pb2.PredictRequest, context: grpc.ServicerContext
    ) -> predict_pb2.PredictResponse:
        """TFS Predict."""
        try:
            return predict(self.manager, request)
        except ServingError as error:
            _fail(context, error)
        except Exception:
            log.exception("Unexpected error in Predict")
            _fail(context, ServingError(Code.INTERNAL_ERROR))
        return predict_pb2.PredictResponse()

    def GetModelMetadata(
        self, request: get_model_metadata_pb2.GetModelMetadataRequest, context: grpc.ServicerContext
    ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        """TFS GetModelMetadata: the signature without the special inputs."""
        try:
            servable = self.manager.resolve(request.model_spec.name, _version(request.model_spec))
            return metadata_response(servable)
        except ServingError as error:
            _fail(context, error)
        return get_model_metadata_pb2.GetModelMetadataResponse()


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus over the model manager."""

    def __init__(self, manager: ModelManager) -> None:
        self.manager = manager

    def GetModelStatus(
        self, request: get_model_status_pb2.GetModelStatusRequest, context: grpc.ServicerContext
    ) -> get_model_status_pb2.GetModelStatusResponse:
        """TFS GetModelStatus."""
        try:
            return status_response(
                self.manager, request.model_spec.name, _version(request.model_spec)
            )
        except ServingError as error:
            _fail(context, error)
        return get_model_status_pb2.GetModelStatusResponse()


def bind_grpc_server(
    manager: ModelManager,
    addresses: list[str],
    port: int,
    threads: int,
    kserve_sequence_extension: bool = False,
    streams: OpenStreams | None = None,
) -> grpc.Server:
    """A gRPC server (TFS and KServe v2) listening on every address; raises OSError if a bind fails.

    Connections wait in the listen queue until `start()`. `streams` holds the open
    ModelStreamInfer calls (with the sequence extension), for a drain."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="grpc"),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(manager), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(manager), server)
    kserve = KServeService(manager, kserve_sequence_extension, streams or OpenStreams())
    server.add_generic_rpc_handlers((kserve_handler(kserve),))
    for address in addresses:
        host = f"[{address}]" if ":" in address else address
        if server.add_insecure_port(f"{host}:{port}") == 0:
            raise OSError(f"Could not bind gRPC to {address}:{port}")
    return server
