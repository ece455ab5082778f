"""Segments from probabilities, the figures, the state path and the streaming panel (from code)."""

import matplotlib.pyplot as plt
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from helpers.audio.files import CHUNK_SECONDS
from helpers.audio.segments import speech_segments
from helpers.audio.state_path import plot_state_path, state_path
from helpers.audio.vad_figure import vad_figure
from helpers.audio.vad_stream_panel import CHUNKS_PER_FRAME, VadStreamPanel

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_a_segment_opens_at_the_threshold_and_closes_after_enough_quiet_chunks():
    probabilities = np.array([0.1, 0.6, 0.9, 0.2, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.7])
    segments = speech_segments(probabilities, threshold=0.5, min_silence_chunks=4)
    assert segments == [
        pytest.approx((1 * CHUNK_SECONDS, 5 * CHUNK_SECONDS)),
        pytest.approx((10 * CHUNK_SECONDS, 11 * CHUNK_SECONDS)),
    ]


def test_a_short_dip_or_a_value_inside_the_hysteresis_does_not_split_a_segment():
    probabilities = np.array([0.9, 0.4, 0.4, 0.4, 0.4, 0.4, 0.9, 0.1, 0.1])
    assert speech_segments(probabilities, min_silence_chunks=2) == [
        pytest.approx((0.0, 7 * CHUNK_SECONDS))
    ]
    assert speech_segments(np.zeros(10)) == []


def test_vad_figure_has_two_panels_with_shaded_segments():
    figure = vad_figure(np.zeros(1024, np.float32), np.array([0.0, 1.0]), [(0.0, 0.032)], "t")
    assert len(figure.axes) == 2
    assert all(len(ax.patches) == 1 for ax in figure.axes)


class CountingModel:
    """Stands in for the model: the probability is the mean of the chunk; counts resets."""

    def __init__(self) -> None:
        self.calls = 0
        self.resets = 0

    def process(self, chunk: np.ndarray) -> float:
        assert chunk.shape == (1, 512)
        self.calls += 1
        return float(chunk.mean())

    def reset(self) -> None:
        self.resets += 1


def test_the_panel_streams_each_chunk_once_and_rewinds_with_a_reset():
    chunks = np.repeat(np.array([0.0, 1.0] * 10, np.float32)[:, None], 512, axis=1)
    model = CountingModel()
    panel = VadStreamPanel(chunks, model.process, model.reset)
    assert bytes(panel.image.value).startswith(PNG_SIGNATURE) and model.calls == 0
    panel.play.value = CHUNKS_PER_FRAME
    panel.play.value = 2 * CHUNKS_PER_FRAME
    assert model.calls == 2 * CHUNKS_PER_FRAME and model.resets == 0
    assert panel.probabilities == [0.0, 1.0] * CHUNKS_PER_FRAME
    assert "speech" in panel.status.value
    panel.play.value = 3
    assert model.resets == 1 and model.calls == 2 * CHUNKS_PER_FRAME + 3
    assert panel.probabilities == [0.0, 1.0, 0.0] and "silence" in panel.status.value


def test_state_path_keeps_only_the_operations_between_source_and_sink():
    x = ops.parameter([1, 2], np.float32, name="x")
    state = ops.parameter([1, 2], np.float32, name="state")
    new_state = ops.relu(ops.add(state, x))
    side = ops.sigmoid(x)
    state_out = ops.result(new_state)
    model = ov.Model([state_out, ops.result(side)], [x, state])
    path = state_path(model, state, state_out)
    assert [op.get_type_name() for op in path] == ["Parameter", "Add", "Relu", "Result"]
    figure = plt.figure()
    plot_state_path(figure.add_subplot(), path, "t")
    assert len(figure.axes[0].patches) == 4 + 3  # four boxes, three arrows
    plt.close(figure)
