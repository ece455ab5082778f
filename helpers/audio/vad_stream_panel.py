"""A live view that feeds a recording to a VAD model chunk by chunk, as a microphone would.

Used in notebook 06. Each tick of the Play control hands the next chunks to `process_chunk` (the
model call the notebook writes) and redraws the last few seconds. Going back rewinds: `reset` is
called and the stream starts again from the first chunk. Executing the cell draws one frame; the
animation runs only when Play is pressed in the browser, and code can drive it by setting the Play
control's value (the tests do).
"""

import io
from collections.abc import Callable

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from helpers.audio.files import CHUNK_SECONDS
from helpers.audio.segments import THRESHOLD, speech_segments
from helpers.audio.vad_figure import draw_vad

CHUNKS_PER_FRAME = 8  # 256 ms of audio per frame, shown in 256 ms: real time
WINDOW_CHUNKS = 94  # about 3 s on screen


class VadStreamPanel:
    """Play control, status line and plot over a recording cut into chunks [n, 512]."""

    def __init__(
        self,
        chunks: np.ndarray,
        process_chunk: Callable[[np.ndarray], float],
        reset: Callable[[], None],
    ) -> None:
        self.chunks = chunks
        self.process_chunk = process_chunk
        self.reset = reset
        self.probabilities: list[float] = []
        milliseconds = int(CHUNKS_PER_FRAME * CHUNK_SECONDS * 1000)
        self.play = widgets.Play(
            value=0, min=0, max=len(chunks), step=CHUNKS_PER_FRAME, interval=milliseconds
        )
        self.status = widgets.HTML()
        self.image = widgets.Image(format="png")
        self.widget = widgets.VBox([self.play, self.status, self.image])
        self.play.observe(lambda _: self.advance(), names="value")
        self.advance()

    def advance(self) -> None:
        """Stream the chunks up to the Play value (rewinding first if it went back); redraw."""
        target = min(int(self.play.value), len(self.chunks))
        if target < len(self.probabilities):
            self.reset()
            self.probabilities = []
        for chunk in self.chunks[len(self.probabilities) : target]:
            self.probabilities.append(self.process_chunk(chunk[None]))
        speaking = bool(self.probabilities) and self.probabilities[-1] >= THRESHOLD
        label = "<b style='color:#2a9d8f'>speech</b>" if speaking else "silence"
        self.status.value = f"{target * CHUNK_SECONDS:5.2f} s streamed: {label}"
        self.image.value = self.frame_png()

    def frame_png(self) -> bytes:
        """The last WINDOW_CHUNKS chunks and their probabilities as PNG bytes."""
        first = max(0, len(self.probabilities) - WINDOW_CHUNKS)
        probabilities = np.array(self.probabilities[first:])
        audio = self.chunks[first : len(self.probabilities)].reshape(-1)
        segments = [
            (first * CHUNK_SECONDS + begin, first * CHUNK_SECONDS + end)
            for begin, end in speech_segments(probabilities)
        ]
        figure = Figure(figsize=(8, 3), dpi=72, layout="constrained")
        axes = figure.subplots(2, 1, sharex=True)
        draw_vad((axes[0], axes[1]), audio, probabilities, segments, first * CHUNK_SECONDS)
        axes[0].set_ylim(-1, 1)
        axes[1].set_xlim(first * CHUNK_SECONDS, (first + WINDOW_CHUNKS) * CHUNK_SECONDS)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
