"""A client of KServe's `ModelStreamInfer` for the benchmarks: one open stream, one step at a time.

A sequence's steps over a stream (our server's extension, `--kserve_sequence_extension`) are
sent as Triton's clients send them: a ModelInferRequest with the sequence parameters, its reply
awaited before the next step, as a sequence's steps must be.
"""

import queue

import grpc
import numpy as np

from helpers.model_server.protocol.kserve import grpc_predict_v2_pb2 as pb

STREAM_METHOD = "/inference.GRPCInferenceService/ModelStreamInfer"


class StreamCaller:
    """One open ModelStreamInfer call: send a request, wait for its reply."""

    def __init__(self, channel: grpc.Channel, timeout: float | None = None) -> None:
        self._requests: queue.SimpleQueue[pb.ModelInferRequest | None] = queue.SimpleQueue()
        call = channel.stream_stream(
            STREAM_METHOD,
            request_serializer=pb.ModelInferRequest.SerializeToString,
            response_deserializer=pb.ModelStreamInferResponse.FromString,
        )
        self._replies = call(iter(self._requests.get, None), timeout=timeout)

    def send(self, request: pb.ModelInferRequest) -> pb.ModelStreamInferResponse:
        """Send one request on the stream and return its reply (which may carry an error)."""
        self._requests.put(request)
        return next(self._replies)

    def __call__(self, request: pb.ModelInferRequest) -> pb.ModelStreamInferResponse:
        """Send one request and return its reply; RuntimeError when it failed."""
        reply = self.send(request)
        if reply.error_message:
            raise RuntimeError(reply.error_message)
        return reply

    def close(self) -> None:
        """End the stream (the server finishes it) and read it to its end."""
        self._requests.put(None)
        for _ in self._replies:
            pass


def kserve_step(
    model: str,
    inputs: dict[str, np.ndarray],
    sequence_id: int,
    start: bool = False,
    end: bool = False,
) -> pb.ModelInferRequest:
    """A ModelInferRequest for one step of a sequence: f32 inputs, Triton's sequence parameters."""
    request = pb.ModelInferRequest(model_name=model)
    for name, array in inputs.items():
        tensor = request.inputs.add()
        tensor.name, tensor.datatype = name, "FP32"
        tensor.shape.extend(array.shape)
        request.raw_input_contents.append(np.ascontiguousarray(array, np.float32).tobytes())
    request.parameters["sequence_id"].int64_param = sequence_id
    if start:
        request.parameters["sequence_start"].bool_param = True
    if end:
        request.parameters["sequence_end"].bool_param = True
    return request


def reply_output(reply: pb.ModelStreamInferResponse, name: str) -> np.ndarray:
    """One f32 output of a successful reply."""
    response = reply.infer_response
    for tensor, raw in zip(response.outputs, response.raw_output_contents, strict=True):
        if tensor.name == name:
            return np.frombuffer(raw, "<f4").reshape(tuple(tensor.shape))
    raise KeyError(name)
