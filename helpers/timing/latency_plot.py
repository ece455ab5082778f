"""Bar charts of per-step latency: median with a bar to the 90th percentile.

Used in the notebooks that time calls (02, 03, 06, 09, 11, 12), one chart per comparison.
"""

import matplotlib.pyplot as plt

from helpers.timing.step_times import StepTimes


def plot_step_times(times: list[StepTimes], ax: plt.Axes, title: str = "") -> None:
    """Draw one bar per measurement (median), with an error bar up to its 90th percentile."""
    labels = [t.label for t in times]
    medians = [t.median for t in times]
    upper = [t.p90 - t.median for t in times]
    bars = ax.bar(labels, medians, yerr=[[0] * len(times), upper], capsize=4, color="#2a9d8f")
    ax.bar_label(bars, labels=[f"{m:.0f} µs" for m in medians], padding=2)
    ax.set_ylabel("µs per step (median, bar to p90)")
    ax.set_ylim(0, max(t.p90 for t in times) * 1.25)
    if title:
        ax.set_title(title)
