"""The wire constants of stateful serving: special input names, control values, version states,
integer limits, and the variables a launcher sets for the server.

The server's own definitions; `helpers.serving.protocol` (the notebooks' client side) re-exports
them. Kept free of imports, so a client reads them without loading the server.
"""

from enum import IntEnum
from typing import Final

SEQUENCE_ID: Final = "sequence_id"
SEQUENCE_CONTROL_INPUT: Final = "sequence_control_input"
SPECIAL_INPUT_NAMES: Final = (SEQUENCE_ID, SEQUENCE_CONTROL_INPUT)

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
# "1" when the launcher holds a pipe on the server's stdin: `stop` or its closing stops the server.
STOP_PIPE_VARIABLE: Final = "HELPERS_MODEL_SERVER_STOP_PIPE"
