"""The stream panel shows what a client has seen so far; driven from code, no animation."""

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers.widgets.stream_panel import StreamRecording, build_stream_panel, draw_frame, frame_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def recording():
    actual = np.arange(2 * 30, dtype=np.float64).reshape(2, 30)
    forecast = actual + 1.5  # every forecast is 0.5 off the next sample
    return StreamRecording(actual, forecast)


def test_frame_pairs_each_step_with_the_forecast_made_before_it(recording):
    steps, actual, forecast = recording.frame(sequence=1, seen=10, history=4)
    assert steps.tolist() == [6, 7, 8, 9, 10]
    assert actual.tolist() == [36.0, 37.0, 38.0, 39.0]
    assert forecast.tolist() == [36.5, 37.5, 38.5, 39.5, 40.5]


def test_frame_at_the_start_and_at_the_end(recording):
    steps, actual, forecast = recording.frame(0, seen=1, history=4)
    assert steps.tolist() == [0, 1] and actual.tolist() == [0.0]
    assert np.isnan(forecast[0]) and forecast[1] == 1.5
    steps, actual, _ = recording.frame(0, seen=30, history=4)
    assert steps.tolist() == [26, 27, 28, 29] and len(actual) == 4


def test_running_mse(recording):
    assert np.isnan(recording.running_mse(0, 1))
    assert recording.running_mse(0, 12) == pytest.approx(0.25)
    assert recording.running_mse(1, 30) == pytest.approx(0.25)


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="sequences, steps"):
        StreamRecording(np.zeros((2, 3)), np.zeros((2, 4)))


def test_draw_frame_plots_actual_and_forecast(recording):
    _, ax = plt.subplots()
    draw_frame(recording, 0, 20, ax, history=8)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["actual", "forecast (one step ahead)"]
    assert lines[0].get_ydata().tolist() == list(range(12, 20))
    plt.close("all")


def test_frame_png_is_a_png_that_depends_on_the_frame(recording):
    first = frame_png(recording, 0, 5, history=8)
    assert first.startswith(PNG_SIGNATURE)
    assert frame_png(recording, 0, 5, history=8) == first
    assert frame_png(recording, 0, 25, history=8) != first


def test_panel_controls_drive_the_view(recording):
    panel = build_stream_panel(recording, history=8)
    play, speed, sequence = panel.children[0].children
    status, image = panel.children[1], panel.children[2]
    assert isinstance(image, widgets.Image) and bytes(image.value).startswith(PNG_SIGNATURE)
    first_frame = bytes(image.value)
    assert isinstance(play, widgets.Play) and play.max == 30 and play.value == 1
    assert "sequence 0" in status.value and "1 samples seen" in status.value
    play.value = 12
    assert "12 samples seen" in status.value and "0.2500" in status.value
    assert bytes(image.value) == frame_png(recording, 0, 12, history=8) != first_frame
    sequence.value = 1
    assert "<b>sequence 1</b>" in status.value
    speed.value = 6
    assert play.step == 6
    plt.close("all")
