"""Per-step timing for small inference calls, robust enough for notebooks on a busy laptop.

Used in notebooks 02, 03, 06, 09, 11 and 12 and by the benchmarks; pairs are timed alternately.
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
    calls: dict[str, Callable[[], object]], steps: int, warmup: int = 50, block: int = 1
) -> list[StepTimes]:
    """Time several calls in turn, `block` of each per turn, so that machine load hits them alike.

    A block longer than 1 keeps each call warm within its turn (servers in other processes sleep
    between turns); the first quarter of every block is warm-up and is not timed.
    """
    if block < 1:
        raise ValueError(f"block must be at least 1, got {block}")
    for _ in range(warmup):
        for call in calls.values():
            call()
    skip = block // 4
    turns = -(-steps // (block - skip))
    durations = np.empty((len(calls), turns * (block - skip)), dtype=np.float64)
    clock = time.perf_counter_ns
    for turn in range(turns):
        for row, call in enumerate(calls.values()):
            for _ in range(skip):
                call()
            first = turn * (block - skip)
            for i in range(first, first + block - skip):
                start = clock()
                call()
                durations[row, i] = clock() - start
    return [
        StepTimes(label, row[:steps] / 1e3) for label, row in zip(calls, durations, strict=True)
    ]
