"""The committed Silero VAD files are the authors' bytes with their MIT licence; the audio file."""

import hashlib

import numpy as np

from helpers.audio.files import (
    GENERIC_SILERO_VAD_ONNX,
    SAMPLE_RATE,
    SILERO_VAD_LICENSE,
    SILERO_VAD_ONNX,
    SPEECH_WAV,
    read_wav,
    split_chunks,
)

# From the official wheel silero-vad==6.2.3 (silero_vad/data/), see data/silero_vad/README.md.
OPENVINO_EXPORT_SHA256 = "7776b81ad1b0350c15d7f1555943b9232eb53e9ca5d989c6d0cea9ebc8664d87"
OP15_EXPORT_SHA256 = "7ed98ddbad84ccac4cd0aeb3099049280713df825c610a8ed34543318f1b2c49"


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_openvino_export_is_the_wheels_file():
    assert SILERO_VAD_ONNX.stat().st_size == 1_288_203
    assert sha256(SILERO_VAD_ONNX) == OPENVINO_EXPORT_SHA256


def test_the_generic_export_is_the_wheels_file():
    assert sha256(GENERIC_SILERO_VAD_ONNX) == OP15_EXPORT_SHA256


def test_the_mit_licence_of_the_silero_team_sits_beside_the_model():
    text = SILERO_VAD_LICENSE.read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "Copyright (c) 2020-present Silero Team" in text
    assert "Permission is hereby granted, free of charge" in text


def test_the_speech_file_is_about_ten_seconds_of_16_khz_audio_with_silence_and_sound():
    audio = read_wav(SPEECH_WAV)
    assert 9.0 < len(audio) / SAMPLE_RATE < 12.0
    assert audio.dtype == np.float32 and np.abs(audio).max() <= 1.0
    assert np.abs(audio[: SAMPLE_RATE // 2]).max() == 0.0  # the leading 0.6 s pause
    assert np.abs(audio).max() > 0.1


def test_the_pause_between_the_sentences_holds_the_scripts_1_2_seconds_of_digital_silence():
    quiet = np.abs(read_wav(SPEECH_WAV)) == 0.0
    edges = np.flatnonzero(np.diff(quiet.astype(np.int8)))  # where silence starts or stops
    runs = [(b - a) / SAMPLE_RATE for a, b in zip(edges[1::2], edges[2::2], strict=False)]
    assert 1.2 <= max(runs) < 2.0  # 1.2 s added, plus espeak-ng's own silence around speech


def test_split_chunks_pads_the_last_chunk_with_zeros():
    chunks = split_chunks(np.arange(1, 1001, dtype=np.float32))
    assert chunks.shape == (2, 512)
    assert chunks[1, 1000 - 512 - 1] == 1000.0 and not chunks[1, 1000 - 512 :].any()
