"""A live view of a recorded forecast stream: play/pause, speed and sequence, actual vs forecast.

Used in notebook 11 to replay what the clients saw. The panel only moves when its Play control is
pressed in the browser (the animation runs in the front end), so executing the cell draws one frame
and nothing more. Code can drive it by setting the Play control's value, which is what the
notebook's tests do. Frames are PNG images in an `Image` widget: one message per frame, and no
Output widget to capture plots.
"""

import io
from dataclasses import dataclass

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from helpers.models.forecast_data import one_step_mse

FRAME_MILLISECONDS = 200


@dataclass
class StreamRecording:
    """Samples and one-step forecasts [sequences, steps]; forecast[:, t] -> actual[:, t+1]."""

    actual: np.ndarray
    forecast: np.ndarray

    def __post_init__(self) -> None:
        if self.actual.shape != self.forecast.shape or self.actual.ndim != 2:
            raise ValueError("actual and forecast must both be [sequences, steps]")

    @property
    def steps(self) -> int:
        """Number of samples per sequence."""
        return int(self.actual.shape[1])

    def frame(self, sequence: int, seen: int, history: int) -> tuple[np.ndarray, ...]:
        """What the view shows after `seen` samples: (steps, actual, forecast of each step).

        The forecast of step t was made after sample t - 1, so it is known for `seen` + 1 steps.
        """
        end = min(seen, self.steps)
        start = max(0, end - history)
        steps = np.arange(start, min(end + 1, self.steps))
        forecast_of = np.full(steps.shape, np.nan)
        known = steps >= 1
        forecast_of[known] = self.forecast[sequence, steps[known] - 1]
        return steps, self.actual[sequence, start:end], forecast_of

    def running_mse(self, sequence: int, seen: int) -> float:
        """Mean squared one-step error over the first `seen` samples of `sequence` (nan if < 2)."""
        if seen < 2:
            return float("nan")
        return one_step_mse(self.actual[sequence, :seen], self.forecast[sequence, :seen])


def draw_frame(
    recording: StreamRecording, sequence: int, seen: int, ax: plt.Axes, history: int = 96
) -> None:
    """Draw the last `history` samples of one sequence and the forecasts up to the next step."""
    steps, actual, forecast = recording.frame(sequence, seen, history)
    ax.plot(steps[: len(actual)], actual, color="#adb5bd", linewidth=3, label="actual")
    ax.plot(steps, forecast, color="#e76f51", linewidth=1.2, label="forecast (one step ahead)")
    ax.set_xlim(steps[0] if len(steps) else 0, (steps[0] if len(steps) else 0) + history)
    low, high = float(recording.actual.min()), float(recording.actual.max())
    ax.set_ylim(low - 0.2, high + 0.6)
    ax.set_xlabel("step")
    ax.set_ylabel("sensor value")
    ax.legend(loc="upper left", ncols=2)


def frame_png(recording: StreamRecording, sequence: int, seen: int, history: int = 96) -> bytes:
    """One frame of the view as PNG bytes (drawn off screen, outside pyplot)."""
    figure = Figure(figsize=(8, 2.6), dpi=80, layout="tight")
    draw_frame(recording, sequence, seen, figure.subplots(), history)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def build_stream_panel(recording: StreamRecording, history: int = 96) -> widgets.VBox:
    """Return the widget: Play (play/pause), speed, sequence choice, a status line and the plot."""
    play = widgets.Play(
        value=1, min=1, max=recording.steps, step=1, interval=FRAME_MILLISECONDS, description="play"
    )
    speed = widgets.IntSlider(value=1, min=1, max=24, description="steps/frame")
    sequence = widgets.Dropdown(
        options=[(f"sequence {i}", i) for i in range(recording.actual.shape[0])],
        value=0,
        description="show",
    )
    status = widgets.HTML()
    image = widgets.Image(format="png")
    widgets.link((speed, "value"), (play, "step"))

    def refresh(_: object = None) -> None:
        seen, chosen = int(play.value), int(sequence.value)
        error = recording.running_mse(chosen, seen)
        status.value = f"<b>sequence {chosen}</b>: {seen} samples seen, running MSE {error:.4f}"
        image.value = frame_png(recording, chosen, seen, history)

    play.observe(refresh, names="value")
    sequence.observe(refresh, names="value")
    refresh()
    return widgets.VBox([widgets.HBox([play, speed, sequence]), status, image])
