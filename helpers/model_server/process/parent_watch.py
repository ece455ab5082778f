"""Stop the server when the process that launched it dies, even by SIGKILL (launcher servers only).

Part of the model server taught in notebook 05 and used in notebook 06.

`helpers.serving.launcher` puts its own pid in `HELPERS_MODEL_SERVER_PARENT_PID`. A killed parent
runs no atexit handler, so the server would be orphaned; instead a thread polls `os.getppid()`,
which changes when the parent is gone, and asks for the same graceful stop as SIGTERM. Without
the variable (a server started by hand) nothing is watched.
"""

import logging
import os
import threading

from helpers.model_server.protocol.wire import PARENT_PID_VARIABLE

log = logging.getLogger("model_server.parent_watch")

POLL_SECONDS = 0.5


def parent_pid_to_watch() -> int | None:
    """The launcher's pid from the environment, or None when there is nothing to watch."""
    value = os.environ.get(PARENT_PID_VARIABLE, "").strip()
    if not value:
        return None
    try:
        pid = int(value)
    except ValueError:
        log.warning("Ignoring %s=%r: not a process id", PARENT_PID_VARIABLE, value)
        return None
    return pid if pid > 0 else None


def parent_is_gone(parent_pid: int) -> bool:
    """True once this process is no longer the child of `parent_pid` (it was re-parented)."""
    return os.getppid() != parent_pid


def watch_parent(stop: threading.Event, poll_seconds: float = POLL_SECONDS) -> bool:
    """Set `stop` when the launching process dies; False when there is nothing to watch."""
    parent_pid = parent_pid_to_watch()
    if parent_pid is None:
        return False
    if parent_is_gone(parent_pid) and _process_exists(parent_pid):
        # The variable came from elsewhere (e.g. inherited by a server started by hand).
        log.warning(
            "%s=%d is not this server's parent; not watching it", PARENT_PID_VARIABLE, parent_pid
        )
        return False
    thread = threading.Thread(
        target=_watch, args=(parent_pid, stop, poll_seconds), name="parent-watch", daemon=True
    )
    thread.start()
    return True


def _watch(parent_pid: int, stop: threading.Event, poll_seconds: float) -> None:
    """Poll until `stop` is set or the parent is gone, then set `stop`."""
    while not stop.wait(poll_seconds):
        if parent_is_gone(parent_pid):
            log.warning("The launching process %d has exited; shutting down", parent_pid)
            stop.set()
            return


def _process_exists(pid: int) -> bool:
    """True when a process with this pid exists (signal 0 probes without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
