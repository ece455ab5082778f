"""The wire constants of stateful serving, shared by client, launcher, server, tests and benchmarks.

Taught in notebook 05. Kept free of imports, so the launcher and the client read them without
loading the server (or TensorFlow).
"""

from enum import IntEnum
from typing import Final

SEQUENCE_ID: Final = "sequence_id"
SEQUENCE_CONTROL_INPUT: Final = "sequence_control_input"
SPECIAL_INPUT_NAMES: Final = (SEQUENCE_ID, SEQUENCE_CONTROL_INPUT)
# The sequence id again, as gRPC metadata / HTTP header, for a proxy to route on (notebook 08).
SEQUENCE_ID_HEADER: Final = "x-sequence-id"

UINT32_MAX: Final = 2**32 - 1
UINT64_MAX: Final = 2**64 - 1


class Control(IntEnum):
    """Values of `sequence_control_input`."""

    NO_CONTROL = 0
    SEQUENCE_START = 1
    SEQUENCE_END = 2


class VersionState(IntEnum):
    """`ModelVersionStatus.State` of TensorFlow Serving's GetModelStatus."""

    UNKNOWN = 0
    START = 10
    LOADING = 20
    AVAILABLE = 30
    UNLOADING = 40
    END = 50


# The launcher puts its pid here; a server that sees it stops when that process dies.
PARENT_PID_VARIABLE: Final = "HELPERS_MODEL_SERVER_PARENT_PID"

# plugin_config for exact float32 maths: CPUs with native bfloat16 (or ARM's f16) default lower.
EXACT_F32: Final[dict[str, object]] = {"INFERENCE_PRECISION_HINT": "f32"}
