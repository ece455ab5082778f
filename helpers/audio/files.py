"""Where Silero VAD and the speech recording live, and how audio is read and cut into chunks.

Used by notebook 06, tests/test_vad*.py and benchmarks/vad_bench.py.
"""

import wave
from pathlib import Path

import numpy as np

from helpers.paths import DATA_DIR

SAMPLE_RATE = 16_000
CHUNK_SAMPLES = 512  # 32 ms of new audio per model call
CONTEXT_SAMPLES = 64  # the tail of the previous chunk the model reads in front of the new one
CHUNK_SECONDS = CHUNK_SAMPLES / SAMPLE_RATE

SILERO_VAD_DIR: Path = DATA_DIR / "silero_vad"
SILERO_VAD_ONNX: Path = SILERO_VAD_DIR / "silero_vad_openvino_16k.onnx"
GENERIC_SILERO_VAD_ONNX: Path = SILERO_VAD_DIR / "silero_vad_16k_op15.onnx"
SILERO_VAD_LICENSE: Path = SILERO_VAD_DIR / "LICENSE"
SPEECH_WAV: Path = DATA_DIR / "speech" / "two_sentences.wav"


def read_wav(path: Path = SPEECH_WAV) -> np.ndarray:
    """A 16 kHz mono 16-bit WAV file as float32 samples in [-1, 1)."""
    with wave.open(str(path), "rb") as recording:
        if (recording.getframerate(), recording.getnchannels(), recording.getsampwidth()) != (
            SAMPLE_RATE,
            1,
            2,
        ):
            raise ValueError(f"{path} is not 16 kHz mono 16-bit")
        frames = recording.readframes(recording.getnframes())
    return np.frombuffer(frames, np.int16).astype(np.float32) / 32768.0


def split_chunks(audio: np.ndarray) -> np.ndarray:
    """Cut audio into [n, 512] chunks, padding the last one with zeros."""
    count = -(-len(audio) // CHUNK_SAMPLES)
    padded = np.zeros(count * CHUNK_SAMPLES, np.float32)
    padded[: len(audio)] = audio
    return padded.reshape(count, CHUNK_SAMPLES)
