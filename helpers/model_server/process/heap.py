"""Give freed heap memory back to the OS, as OVMS's cleaner does with `malloc_trim(0)`.

Part of the model server taught in notebook 05 and used in notebook 06.
"""

import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger("model_server.heap")


def _load_malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None on a C library without it (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _load_malloc_trim()


def trim_heap() -> bool:
    """Return free heap pages to the OS; True when glibc released some memory."""
    if _MALLOC_TRIM is None:
        return False
    released = bool(_MALLOC_TRIM(0))
    log.debug("malloc_trim released memory: %s", released)
    return released
