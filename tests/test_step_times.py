"""time_calls and time_alternating count calls and report durations in microseconds."""

import time

import numpy as np
import pytest

from helpers.timing.step_times import time_alternating, time_calls


def test_time_calls_runs_warmup_plus_steps_and_measures_each():
    calls = []
    result = time_calls("sleep", lambda: (calls.append(1), time.sleep(0.001)), steps=20, warmup=3)
    assert len(calls) == 23
    assert result.microseconds.shape == (20,)
    assert np.all(result.microseconds >= 1000.0)
    assert result.median == float(np.median(result.microseconds))
    assert result.p90 >= result.median


def test_time_alternating_interleaves_the_calls_and_times_each_separately():
    order = []
    fast, slow = time_alternating(
        {
            "fast": lambda: order.append("fast"),
            "slow": lambda: (order.append("slow"), time.sleep(0.002)),
        },
        steps=10,
        warmup=2,
    )
    assert order == ["fast", "slow"] * 12
    assert (fast.label, slow.label) == ("fast", "slow")
    assert fast.microseconds.shape == slow.microseconds.shape == (10,)
    assert np.all(slow.microseconds >= 2000.0) and fast.median < 1000.0


def test_time_alternating_in_blocks_runs_each_call_block_times_per_turn_and_times_steps():
    order = []
    first, second = time_alternating(
        {"a": lambda: order.append("a"), "b": lambda: (order.append("b"), time.sleep(0.001))},
        steps=9,
        warmup=1,
        block=4,
    )
    # 1 warm-up round, then turns of 4 calls each (the first untimed) until 9 are timed: 3 turns.
    assert order == ["a", "b"] + (["a"] * 4 + ["b"] * 4) * 3
    assert first.microseconds.shape == second.microseconds.shape == (9,)
    assert np.all(second.microseconds >= 1000.0) and first.median < 1000.0


@pytest.mark.parametrize("block", [0, -3])
def test_time_alternating_refuses_a_block_of_no_calls_before_calling_anything(block):
    order = []
    with pytest.raises(ValueError, match=f"block must be at least 1, got {block}"):
        time_alternating({"a": lambda: order.append("a")}, steps=4, warmup=1, block=block)
    assert order == []
