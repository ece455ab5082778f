"""The latency chart draws one bar per measurement at its median."""

import matplotlib.pyplot as plt
import numpy as np

from helpers.timing.latency_plot import plot_step_times
from helpers.timing.step_times import StepTimes


def test_one_bar_per_measurement_at_the_median():
    times = [
        StepTimes("a", np.array([10.0, 20.0, 30.0])),
        StepTimes("b", np.array([1.0, 2.0, 3.0, 100.0])),
    ]
    figure, ax = plt.subplots()
    plot_step_times(times, ax, "demo")
    heights = [patch.get_height() for patch in ax.patches]
    assert heights == [20.0, 2.5]
    assert ax.get_title() == "demo"
    plt.close(figure)
