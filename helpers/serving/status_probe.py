"""Ask a model server for the version states of a model: TF Serving's gRPC GetModelStatus.

Used by the launcher to wait until a started server is ready (notebooks 09 to 12), as notebook
09 explains. The TF Serving messages are imported by the first probe, not with
this module, so that importing the launcher stays cheap. In a process that has not imported
TensorFlow, that import runs `tensorflow/__init__.py` (seconds) unless the light namespace of
`helpers.model_server.process.light_tensorflow` was installed first, as the benchmarks do. This
module never installs it: a notebook may import the real TensorFlow later.
"""

import threading
from functools import cache
from types import ModuleType

import grpc

from helpers.quiet import native_stderr_silenced
from helpers.serving.protocol import VersionState

# native_stderr_silenced swaps file descriptor 2: two threads inside it at once could leave it lost.
_IMPORT_LOCK = threading.Lock()


@cache
def _status_api() -> tuple[ModuleType, ModuleType]:
    """`get_model_status_pb2` and `model_service_pb2_grpc`, imported once, TF's C++ log dropped."""
    with _IMPORT_LOCK, native_stderr_silenced():
        from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc
    return get_model_status_pb2, model_service_pb2_grpc


def version_states(address: str, name: str, timeout: float = 1.0) -> dict[int, VersionState]:
    """Map version -> state of model `name` at `address`; raises grpc.RpcError if the call fails."""
    status_pb2, service_grpc = _status_api()
    request = status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    with grpc.insecure_channel(address) as channel:
        response = service_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=timeout)
    return {int(v.version): VersionState(v.state) for v in response.model_version_status}


def model_is_available(address: str, name: str, timeout: float = 1.0) -> bool:
    """True when at least one version of `name` is AVAILABLE; False also when the call fails."""
    try:
        states = version_states(address, name, timeout)
    except grpc.RpcError:
        return False
    return VersionState.AVAILABLE in states.values()
