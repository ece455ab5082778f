"""The wire constants of stateful serving, shared by client, launcher, server, tests and benchmarks.

Taught in notebook 09. The server defines the wire constants (`helpers.model_server.protocol.wire`,
free of imports, so the launcher and the client read them without loading the server or
TensorFlow); this module re-exports them next to the client side's own.
"""

from typing import Final

from helpers.model_server.protocol.wire import (
    PARENT_PID_VARIABLE,
    SEQUENCE_CONTROL_INPUT,
    SEQUENCE_ID,
    SPECIAL_INPUT_NAMES,
    STOP_PIPE_VARIABLE,
    UINT32_MAX,
    UINT64_MAX,
    Control,
    VersionState,
)

__all__ = [
    "EXACT_F32",
    "PARENT_PID_VARIABLE",
    "SEQUENCE_CONTROL_INPUT",
    "SEQUENCE_ID",
    "SEQUENCE_ID_HEADER",
    "SPECIAL_INPUT_NAMES",
    "STOP_PIPE_VARIABLE",
    "UINT32_MAX",
    "UINT64_MAX",
    "Control",
    "VersionState",
]

# The sequence id again, as gRPC metadata / HTTP header, for a proxy to route on (notebook 12).
SEQUENCE_ID_HEADER: Final = "x-sequence-id"

# plugin_config for exact float32 maths: CPUs with native bfloat16 (or ARM's f16) default lower.
EXACT_F32: Final[dict[str, object]] = {"INFERENCE_PRECISION_HINT": "f32"}
