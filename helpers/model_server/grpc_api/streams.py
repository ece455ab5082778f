"""ModelStreamInfer over models, with the sequence extension (ours, as Triton serves it).

Each ModelInferRequest on a stream runs like a ModelInfer, one after the other in the order it
arrived, and gets one ModelStreamInferResponse: the ModelInferResponse with the request's `id`,
or, when it fails, `error_message` with OVMS's message (the stream stays open). Sequence
parameters travel on each request, so several sequences can share a stream and a sequence can
move between streams and unary calls. A stream that ends or is cancelled leaves its sequences
to idle cleanup, as a vanished unary client does.

At shutdown (`OpenStreams.drain`) a stream finishes and answers the request it is running, then
ends with UNAVAILABLE; a stream waiting for its next request is cancelled at once. Requests a
client sends after that are never run.
"""

import logging
import threading
from collections.abc import Callable, Iterator

import grpc

from helpers.model_server.grpc_api.kserve_errors import UNKNOWN_ERROR, grpc_details
from helpers.model_server.protocol.kserve import grpc_predict_v2_pb2 as pb
from helpers.model_server.protocol.status import ServingError

log = logging.getLogger("model_server.kserve_grpc")

SHUTTING_DOWN = "The server is shutting down; send the rest of this stream again once it is back"

Infer = Callable[[pb.ModelInferRequest], pb.ModelInferResponse]


class OpenStreams:
    """The streams waiting for their next request, so that a shutdown can end them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: set[grpc.ServicerContext] = set()
        self.draining = False

    def waiting(self, context: grpc.ServicerContext) -> bool:
        """Mark the stream as waiting for a request; False once the server is draining."""
        with self._lock:
            if self.draining:
                return False
            self._waiting.add(context)
            return True

    def running(self, context: grpc.ServicerContext) -> bool:
        """Mark the stream as running the request it just read (a drain lets it finish);
        False when a drain has cancelled the stream meanwhile (the request is not run)."""
        with self._lock:
            if context not in self._waiting:
                return False
            self._waiting.discard(context)
            return True

    def forget(self, context: grpc.ServicerContext) -> None:
        """The stream has ended."""
        with self._lock:
            self._waiting.discard(context)

    def drain(self) -> None:
        """Cancel the streams that wait; the others end after the request they are running."""
        with self._lock:
            self.draining = True
            waiting, self._waiting = self._waiting, set()
        for context in waiting:
            context.cancel()


def stream_infer(
    infer: Infer,
    requests: Iterator[pb.ModelInferRequest],
    context: grpc.ServicerContext,
    streams: OpenStreams,
) -> Iterator[pb.ModelStreamInferResponse]:
    """Answer each request of one stream, in order, until the client or a drain ends it."""
    try:
        while streams.waiting(context):
            request = next(requests, None)
            if not streams.running(context) or request is None:
                return
            yield answer(infer, request)
        context.set_code(grpc.StatusCode.UNAVAILABLE)
        context.set_details(SHUTTING_DOWN)
    finally:
        streams.forget(context)


def answer(infer: Infer, request: pb.ModelInferRequest) -> pb.ModelStreamInferResponse:
    """One request's response on the stream: its result, or its error with the request's id."""
    try:
        return pb.ModelStreamInferResponse(infer_response=infer(request))
    except ServingError as error:
        message = grpc_details(error)
    except Exception:
        log.exception("Unexpected error in a ModelStreamInfer request")
        message = UNKNOWN_ERROR
    echo = pb.ModelInferResponse(
        model_name=request.model_name, model_version=request.model_version, id=request.id
    )
    return pb.ModelStreamInferResponse(error_message=message, infer_response=echo)
