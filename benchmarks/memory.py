"""Memory of a server process, read from Linux /proc.

Used by `make soak` (soak.py), `make bench` (serving_bench.py) and tests/server/test_server_load.py.
"""

import threading
import time
from pathlib import Path


def _status_mb(pid: int, key: str) -> float:
    """One memory line (`VmRSS`, `VmHWM`...) of /proc/<pid>/status, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == key:
            return int(value.split()[0]) / 1024
    raise RuntimeError(f"no {key} for process {pid}")


def rss_mb(pid: int) -> float:
    """Resident memory of a process now, in MB."""
    return _status_mb(pid, "VmRSS")


def peak_rss_mb(pid: int) -> float:
    """The highest resident memory of a process since it started (the kernel's VmHWM), in MB."""
    return _status_mb(pid, "VmHWM")


def settled_rss_mb(pid: int, cleaner_seconds: float) -> float:
    """RSS once the server's cleaner has run at least twice (each run ends with malloc_trim)."""
    time.sleep(2.5 * cleaner_seconds)
    return rss_mb(pid)


class PeakRss(threading.Thread):
    """Samples a process's RSS every 50 ms and keeps the highest value (a peak over a span)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = rss_mb(pid)
        self._stop_event = threading.Event()

    def run(self) -> None:
        """Sample until stopped."""
        while not self._stop_event.wait(0.05):
            self.peak = max(self.peak, rss_mb(self.pid))

    def stop(self) -> float:
        """Stop sampling and return the peak in MB."""
        self._stop_event.set()
        self.join()
        return self.peak
