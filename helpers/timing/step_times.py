"""Per-step timing for small inference calls, robust enough for notebooks on a busy laptop.

Used in notebooks 02 to 06 (and by benchmarks/serving_bench.py); 02 and 03 time pairs alternately.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StepTimes:
    """Per-call durations in microseconds, with the summary numbers the notebooks print."""

    label: str
    microseconds: np.ndarray

    @property
    def median(self) -> float:
        """Median duration in microseconds."""
        return float(np.median(self.microseconds))

    @property
    def p90(self) -> float:
        """90th-percentile duration in microseconds."""
        return float(np.percentile(self.microseconds, 90))


def time_calls(label: str, call: Callable[[], object], steps: int, warmup: int = 50) -> StepTimes:
    """Run `call` warmup + steps times and return the duration of each timed call."""
    return time_alternating({label: call}, steps, warmup)[0]


def time_alternating(
    calls: dict[str, Callable[[], object]], steps: int, warmup: int = 50
) -> list[StepTimes]:
    """Time several calls in turn, one of each per step, so that machine load hits them alike."""
    for _ in range(warmup):
        for call in calls.values():
            call()
    durations = np.empty((len(calls), steps), dtype=np.float64)
    clock = time.perf_counter_ns
    for i in range(steps):
        for row, call in enumerate(calls.values()):
            start = clock()
            call()
            durations[row, i] = clock() - start
    return [StepTimes(label, row / 1e3) for label, row in zip(calls, durations, strict=True)]
