"""A gRPC PredictionService that echoes inputs as outputs: the transport-only baseline.

Started by `make bench` (benchmarks/serving_bench.py) as a separate process.
"""

import argparse
import sys
from concurrent import futures

from helpers.model_server.process.light_tensorflow import install_light_tensorflow_namespace

install_light_tensorflow_namespace()

import grpc  # noqa: E402

from helpers.model_server.protocol.protos import predict_pb2, prediction_service_pb2_grpc  # noqa: E402


class Echo(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict returns every input tensor under the same name."""

    def Predict(
        self, request: predict_pb2.PredictRequest, context: grpc.ServicerContext
    ) -> predict_pb2.PredictResponse:
        """Echo the inputs."""
        response = predict_pb2.PredictResponse()
        for name, tensor in request.inputs.items():
            response.outputs[name].CopyFrom(tensor)
        return response


def main() -> int:
    """Serve until killed, with the same thread count as the model server."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=64)
    args = parser.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.threads))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Echo(), server)
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    server.wait_for_termination()
    return 0


if __name__ == "__main__":
    sys.exit(main())
