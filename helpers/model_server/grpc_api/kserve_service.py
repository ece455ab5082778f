"""The KServe v2 gRPC front end: `inference.GRPCInferenceService`, as OVMS 2026.2 serves it.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.

Served: ServerLive, ServerReady, ServerMetadata, ModelReady, ModelMetadata, ModelInfer, and
ModelStreamInfer. Without the sequence extension the stream answers as OVMS does without
MediaPipe graphs (it streams to graphs only): its first request gets NOT_FOUND "Mediapipe graph
definition with requested name is not found". With it (ours, as Triton does), see `streams.py`.
A status OVMS's grpc_utils.cpp does not map (NOT_IMPLEMENTED) goes out as UNKNOWN
"Unknown error", as OVMS sends it.
"""

import logging
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from helpers.model_server.core.manager import ModelManager
from helpers.model_server.dataplane.kserve import (
    kserve_infer,
    kserve_model_metadata,
    kserve_model_ready,
    server_metadata,
)
from helpers.model_server.grpc_api.kserve_errors import UNKNOWN_ERROR, grpc_details
from helpers.model_server.grpc_api.kserve_tensors import (
    metadata_to_proto,
    request_from_proto,
    response_from_result,
)
from helpers.model_server.grpc_api.streams import OpenStreams, stream_infer
from helpers.model_server.protocol.kserve import grpc_predict_v2_pb2 as pb
from helpers.model_server.protocol.status import Code, ServingError

log = logging.getLogger("model_server.kserve_grpc")

SERVICE = "inference.GRPCInferenceService"


class KServeService:
    """The RPCs of GRPCInferenceService over the model manager."""

    def __init__(
        self, manager: ModelManager, sequence_extension: bool, streams: OpenStreams
    ) -> None:
        self.manager = manager
        self.sequence_extension = sequence_extension
        self.streams = streams

    def server_live(self, request: pb.ServerLiveRequest) -> pb.ServerLiveResponse:
        """ServerLive: the gRPC module is up."""
        return pb.ServerLiveResponse(live=True)

    def server_ready(self, request: pb.ServerReadyRequest) -> pb.ServerReadyResponse:
        """ServerReady: the server is serving (the models loaded before gRPC started)."""
        return pb.ServerReadyResponse(ready=True)

    def server_metadata(self, request: pb.ServerMetadataRequest) -> pb.ServerMetadataResponse:
        """ServerMetadata: name and version; extensions only with the sequence extension."""
        metadata = server_metadata(self.sequence_extension)
        return pb.ServerMetadataResponse(
            name=metadata.name, version=metadata.version, extensions=metadata.extensions
        )

    def model_ready(self, request: pb.ModelReadyRequest) -> pb.ModelReadyResponse:
        """ModelReady of a version (default: the default version)."""
        return pb.ModelReadyResponse(
            ready=kserve_model_ready(self.manager, request.name, request.version)
        )

    def model_metadata(self, request: pb.ModelMetadataRequest) -> pb.ModelMetadataResponse:
        """ModelMetadata of a version (default: the default version)."""
        return metadata_to_proto(kserve_model_metadata(self.manager, request.name, request.version))

    def model_infer(self, request: pb.ModelInferRequest) -> pb.ModelInferResponse:
        """ModelInfer through the wire-neutral data plane."""
        result = kserve_infer(self.manager, request_from_proto(request), self.sequence_extension)
        return response_from_result(result)


def _unary(
    method: Callable[[Any], Any], request_type: Any, response_type: Any
) -> grpc.RpcMethodHandler:
    """A unary handler that turns ServingErrors into OVMS's gRPC statuses."""

    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        """Run one call; a failure sets the status and returns an empty response."""
        try:
            return method(request)
        except ServingError as error:
            context.set_code(error.code.grpc_code)
            context.set_details(grpc_details(error))
        except Exception:
            log.exception("Unexpected error in %s", method.__name__)
            context.set_code(grpc.StatusCode.UNKNOWN)
            context.set_details(UNKNOWN_ERROR)
        return response_type()

    return grpc.unary_unary_rpc_method_handler(
        handle,
        request_deserializer=request_type.FromString,
        response_serializer=response_type.SerializeToString,
    )


def _graph_stream_infer(
    requests: Iterator[pb.ModelInferRequest], context: grpc.ServicerContext
) -> Iterator[pb.ModelStreamInferResponse]:
    """ModelStreamInfer: OVMS looks the first request's name up among MediaPipe graphs only."""
    if next(requests, None) is None:
        # MEDIAPIPE_UNINITIALIZED_STREAM_CLOSURE, which grpc_utils.cpp does not map.
        context.set_code(grpc.StatusCode.UNKNOWN)
        context.set_details(UNKNOWN_ERROR)
    else:
        error = ServingError(Code.MEDIAPIPE_DEFINITION_NAME_MISSING)
        context.set_code(error.code.grpc_code)
        context.set_details(grpc_details(error))
    return iter(())


def kserve_handler(service: KServeService) -> grpc.GenericRpcHandler:
    """The generic handler of GRPCInferenceService, to add to a grpc.Server."""

    def models_stream_infer(
        requests: Iterator[pb.ModelInferRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.ModelStreamInferResponse]:
        """ModelStreamInfer over models (the sequence extension)."""
        return stream_infer(service.model_infer, requests, context, service.streams)

    methods = {
        "ServerLive": _unary(service.server_live, pb.ServerLiveRequest, pb.ServerLiveResponse),
        "ServerReady": _unary(service.server_ready, pb.ServerReadyRequest, pb.ServerReadyResponse),
        "ServerMetadata": _unary(
            service.server_metadata, pb.ServerMetadataRequest, pb.ServerMetadataResponse
        ),
        "ModelReady": _unary(service.model_ready, pb.ModelReadyRequest, pb.ModelReadyResponse),
        "ModelMetadata": _unary(
            service.model_metadata, pb.ModelMetadataRequest, pb.ModelMetadataResponse
        ),
        "ModelInfer": _unary(service.model_infer, pb.ModelInferRequest, pb.ModelInferResponse),
        "ModelStreamInfer": grpc.stream_stream_rpc_method_handler(
            models_stream_infer if service.sequence_extension else _graph_stream_infer,
            request_deserializer=pb.ModelInferRequest.FromString,
            response_serializer=pb.ModelStreamInferResponse.SerializeToString,
        ),
    }
    return grpc.method_handlers_generic_handler(SERVICE, methods)
