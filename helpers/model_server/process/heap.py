"""Give freed heap memory back to the OS, as OVMS's cleaner does with `malloc_trim(0)`.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger("model_server.heap")

M_ARENA_MAX = -8  # glibc's mallopt parameter number


def _load_malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None on a C library without it (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def _load_mallopt() -> Callable[[int, int], int] | None:
    """glibc's mallopt, or None on a C library without it."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _load_malloc_trim()


def use_one_malloc_arena() -> bool:
    """Make every thread allocate from glibc's main arena; True when glibc took the setting.

    malloc_trim returns the free top of the main arena only. Request threads each got their own
    arena, whose free top (up to 64 MB each once large blocks were freed) stayed resident: a
    model with big states (a KV cache) then never gave its ended sequences' memory back.
    Call before the server starts its threads.
    """
    mallopt = _load_mallopt()
    return bool(mallopt and mallopt(M_ARENA_MAX, 1))


def trim_heap() -> bool:
    """Return free heap pages to the OS; True when glibc released some memory."""
    if _MALLOC_TRIM is None:
        return False
    released = bool(_MALLOC_TRIM(0))
    log.debug("malloc_trim released memory: %s", released)
    return released
