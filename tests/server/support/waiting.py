"""The one polling loop of the tests: wait until a condition holds, or fail saying what for."""

import time
from collections.abc import Callable


def wait_for(
    condition: Callable[[], object], timeout: float, what: str, interval: float = 0.02
) -> None:
    """Poll `condition()` every `interval` seconds until it is true; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)
