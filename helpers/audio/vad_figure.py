"""Draw a recording, its speech probability per chunk and the detected segments in one figure.

Used by notebook 06 (the whole file) and by its streaming widget (the last few seconds).
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from helpers.audio.files import CHUNK_SECONDS, SAMPLE_RATE
from helpers.audio.segments import THRESHOLD

SPEECH_COLOUR = "#2a9d8f"


def draw_vad(
    axes: tuple[Axes, Axes],
    audio: np.ndarray,
    probabilities: np.ndarray,
    segments: list[tuple[float, float]],
    start_seconds: float = 0.0,
) -> None:
    """Waveform on top, probability below, each segment shaded on both."""
    wave_ax, probability_ax = axes
    times = start_seconds + np.arange(len(audio)) / SAMPLE_RATE
    wave_ax.plot(times, audio, color="#6c757d", linewidth=0.5)
    wave_ax.set_ylabel("sample")
    chunk_starts = start_seconds + np.arange(len(probabilities)) * CHUNK_SECONDS
    probability_ax.step(chunk_starts, probabilities, where="post", color="#e76f51")
    probability_ax.axhline(THRESHOLD, color="#adb5bd", linestyle="--", linewidth=1)
    probability_ax.set_ylim(-0.05, 1.05)
    probability_ax.set_ylabel("P(speech)")
    probability_ax.set_xlabel("time (s)")
    for begin, end in segments:
        for ax in axes:
            ax.axvspan(begin, end, color=SPEECH_COLOUR, alpha=0.2, linewidth=0)


def vad_figure(
    audio: np.ndarray, probabilities: np.ndarray, segments: list[tuple[float, float]], title: str
) -> Figure:
    """A two-panel pyplot figure of `draw_vad` with a title."""
    figure, axes = plt.subplots(2, 1, sharex=True, figsize=(10, 4), layout="constrained")
    draw_vad((axes[0], axes[1]), audio, probabilities, segments)
    figure.suptitle(title)
    return figure
