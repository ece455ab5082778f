"""Stop the server when its launcher asks or dies, even by SIGKILL (launcher servers only).

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.

`helpers.serving.launcher` starts the server with a pipe on its stdin and `STOP_PIPE_VARIABLE`
set: the launcher writes `stop` and closes the pipe to ask for the graceful stop (drain, then the
snapshot), which works on every OS, whereas a SIGTERM from `Popen.terminate()` is a hard kill on
Windows. The OS closes that pipe when the launcher dies however it dies, so the server then stops
too. On POSIX the launcher's pid in `PARENT_PID_VARIABLE` is watched as well: a thread polls
`os.getppid()`, which changes when the parent is gone, even if a child the launcher forked keeps
the pipe open. Without the variables (a server started by hand) nothing is watched.
"""

import logging
import os
import sys
import threading

from helpers.model_server.protocol.wire import PARENT_PID_VARIABLE, STOP_PIPE_VARIABLE

log = logging.getLogger("model_server.parent_watch")

POLL_SECONDS = 0.5
STOP_REQUEST = b"stop"


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
    """True once this process is no longer the child of `parent_pid` (POSIX re-parents it)."""
    return os.getppid() != parent_pid


def watch_parent(stop: threading.Event, poll_seconds: float = POLL_SECONDS) -> bool:
    """Set `stop` when the launcher asks or dies; False when there is nothing to watch."""
    watches_pipe = _watch_stop_pipe(stop)
    parent_pid = parent_pid_to_watch()
    if parent_pid is None or sys.platform == "win32":  # Windows never re-parents: the pipe tells
        return watches_pipe
    if parent_is_gone(parent_pid) and _process_exists(parent_pid):
        # The variable came from elsewhere (e.g. inherited by a server started by hand).
        log.warning(
            "%s=%d is not this server's parent; not watching it", PARENT_PID_VARIABLE, parent_pid
        )
        return watches_pipe
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


def _watch_stop_pipe(stop: threading.Event) -> bool:
    """With STOP_PIPE_VARIABLE set, a thread that sets `stop` when stdin says so or closes."""
    if os.environ.get(STOP_PIPE_VARIABLE) != "1" or sys.stdin is None:
        return False
    thread = threading.Thread(target=_read_stop_pipe, args=(stop,), name="stop-pipe", daemon=True)
    thread.start()
    return True


def _read_stop_pipe(stop: threading.Event) -> None:
    """Block on stdin until the launcher writes `stop` or its end closes, then set `stop`."""
    request = b""
    try:
        # The file descriptor, not sys.stdin: a daemon thread blocked inside the buffered reader
        # would hold its lock when the interpreter shuts down, which Python treats as fatal.
        while not request.endswith(b"\n"):
            chunk = os.read(sys.stdin.fileno(), 64)
            if not chunk:
                break
            request += chunk
    except (OSError, ValueError):  # an unreadable stdin counts as a closed one
        pass
    if request.strip() == STOP_REQUEST:
        log.info("The launcher asked to stop; shutting down")
    elif (parent_pid := parent_pid_to_watch()) is not None:
        log.warning("The launching process %d has exited; shutting down", parent_pid)
    else:
        log.warning("The stop pipe closed; shutting down")
    stop.set()


def _process_exists(pid: int) -> bool:
    """True when a process with this pid exists (signal 0 probes without sending anything)."""
    if sys.platform == "win32":  # there os.kill ends the process, whatever the signal
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
