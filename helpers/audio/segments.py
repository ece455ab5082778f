"""Turn per-chunk speech probabilities into speech segments, as Silero's own wrapper does.

Used by notebook 06 and its widget. A segment starts when the probability reaches `threshold` and
ends once it has stayed below `threshold - 0.15` for `min_silence_chunks` chunks (the hysteresis
and minimum silence of the authors' `get_speech_timestamps`, simplified to whole chunks).
"""

import numpy as np

from helpers.audio.files import CHUNK_SECONDS

THRESHOLD = 0.5
HYSTERESIS = 0.15
MIN_SILENCE_CHUNKS = 4  # 128 ms


def speech_segments(
    probabilities: np.ndarray,
    threshold: float = THRESHOLD,
    min_silence_chunks: int = MIN_SILENCE_CHUNKS,
) -> list[tuple[float, float]]:
    """(start, end) in seconds of each stretch of speech."""
    segments: list[tuple[float, float]] = []
    start: int | None = None
    quiet = 0
    for index, probability in enumerate(probabilities):
        if start is None:
            if probability >= threshold:
                start, quiet = index, 0
            continue
        quiet = quiet + 1 if probability < threshold - HYSTERESIS else 0
        if quiet >= min_silence_chunks:
            segments.append((start * CHUNK_SECONDS, (index - quiet + 1) * CHUNK_SECONDS))
            start = None
    if start is not None:
        segments.append((start * CHUNK_SECONDS, (len(probabilities) - quiet) * CHUNK_SECONDS))
    return segments


def rounded(segments: list[tuple[float, float]], digits: int = 2) -> list[tuple[float, float]]:
    """Segments with their times rounded, for printing."""
    return [(round(begin, digits), round(end, digits)) for begin, end in segments]
