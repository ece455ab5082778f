"""A gRPC PredictionService that echoes inputs as outputs: the transport-only baseline.

Started by `make bench` (benchmarks/serving_bench.py) as a separate process, once with the
thread-pool server and once with `--aio` (grpc.aio); the benchmark takes the faster. The same
process also echoes KServe's `ModelStreamInfer` (each ModelInferRequest on the stream answered
with its inputs as outputs): the floor of a step sent over an open stream.
"""

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent import futures
from typing import Any

from helpers.model_server.process.light_tensorflow import install_light_tensorflow_namespace

install_light_tensorflow_namespace()

import grpc  # noqa: E402

from helpers.model_server.protocol.kserve import grpc_predict_v2_pb2 as pb  # noqa: E402
from helpers.model_server.protocol.protos import predict_pb2, prediction_service_pb2_grpc  # noqa: E402

STREAM_SERVICE = "inference.GRPCInferenceService"


def echo(request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
    """Every input tensor under the same name."""
    response = predict_pb2.PredictResponse()
    for name, tensor in request.inputs.items():
        response.outputs[name].CopyFrom(tensor)
    return response


def stream_echo(request: pb.ModelInferRequest) -> pb.ModelStreamInferResponse:
    """One stream reply: the request's inputs as outputs, its id echoed."""
    reply = pb.ModelStreamInferResponse()
    response = reply.infer_response
    response.model_name, response.id = request.model_name, request.id
    for tensor in request.inputs:
        output = response.outputs.add()
        output.name, output.datatype = tensor.name, tensor.datatype
        output.shape.extend(tensor.shape)
    response.raw_output_contents.extend(request.raw_input_contents)
    return reply


def stream_handler() -> grpc.GenericRpcHandler:
    """ModelStreamInfer for the thread-pool server."""

    def handle(
        requests: Iterator[pb.ModelInferRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.ModelStreamInferResponse]:
        for request in requests:
            yield stream_echo(request)

    return _generic(handle)


def async_stream_handler() -> grpc.GenericRpcHandler:
    """ModelStreamInfer for grpc.aio."""

    async def handle(
        requests: AsyncIterator[pb.ModelInferRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ModelStreamInferResponse]:
        async for request in requests:
            yield stream_echo(request)

    return _generic(handle)


def _generic(handle: Callable[..., Any]) -> grpc.GenericRpcHandler:
    """A generic handler serving `handle` as inference.GRPCInferenceService/ModelStreamInfer."""
    method = grpc.stream_stream_rpc_method_handler(
        handle,
        request_deserializer=pb.ModelInferRequest.FromString,
        response_serializer=pb.ModelStreamInferResponse.SerializeToString,
    )
    return grpc.method_handlers_generic_handler(STREAM_SERVICE, {"ModelStreamInfer": method})


class Echo(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict returns every input tensor under the same name (thread-pool server)."""

    def Predict(
        self, request: predict_pb2.PredictRequest, context: grpc.ServicerContext
    ) -> predict_pb2.PredictResponse:
        """Echo the inputs."""
        return echo(request)


class AsyncEcho(prediction_service_pb2_grpc.PredictionServiceServicer):
    """The same for grpc.aio."""

    async def Predict(
        self, request: predict_pb2.PredictRequest, context: grpc.aio.ServicerContext
    ) -> predict_pb2.PredictResponse:
        """Echo the inputs."""
        return echo(request)


async def serve_aio(port: int) -> None:
    """Serve with grpc.aio until killed."""
    server = grpc.aio.server()
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(AsyncEcho(), server)
    server.add_generic_rpc_handlers((async_stream_handler(),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def main() -> int:
    """Serve until killed, with the same thread count as the model server (or with grpc.aio)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--aio", action="store_true")
    args = parser.parse_args()
    if args.aio:
        asyncio.run(serve_aio(args.port))
        return 0
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.threads))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Echo(), server)
    server.add_generic_rpc_handlers((stream_handler(),))
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    server.wait_for_termination()
    return 0


if __name__ == "__main__":
    sys.exit(main())
