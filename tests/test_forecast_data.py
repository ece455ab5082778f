"""Synthetic signals are seeded and shaped; the error measures match direct numpy sums."""

import numpy as np

from helpers.models.forecast_data import (
    DAY,
    history_window,
    last_value_mse,
    one_step_mse,
    sensor_signals,
    sine_mixture,
    training_windows,
)


def test_sine_mixture_is_seeded_and_shaped():
    signals = sine_mixture(5, 40, seed=3)
    assert signals.shape == (5, 40, 1) and signals.dtype == np.float32
    assert np.array_equal(signals, sine_mixture(5, 40, seed=3))
    assert not np.array_equal(signals, sine_mixture(5, 40, seed=4))
    assert np.abs(signals).max() <= 1.5 + 1e-6


def test_sensor_signals_are_seeded_shaped_and_bounded():
    signals = sensor_signals(3, 500, seed=2)
    assert signals.shape == (3, 500) and signals.dtype == np.float32
    assert np.array_equal(signals, sensor_signals(3, 500, seed=2))
    assert not np.array_equal(signals, sensor_signals(3, 500, seed=3))
    assert np.abs(signals).max() < 1.0 + 0.3 + 0.3 + 0.3 + 0.5  # cycle, harmonic, drift, noise


def test_sensor_signals_repeat_daily_without_noise():
    clean = sensor_signals(2, 10 * DAY, seed=0, noise=0.0).astype(np.float64)
    day_to_day = np.abs(clean[:, DAY:] - clean[:, :-DAY]).max()
    hour_to_hour = np.abs(clean[:, DAY // 2 :] - clean[:, : -DAY // 2]).max()
    drift_bound = 0.3 * 2.0 * np.pi * DAY / 300.0  # steepest drift (period 300) over one day
    assert day_to_day <= drift_bound < 1.0 < hour_to_hour  # only the drift changes day to day


def test_training_windows_are_crops_of_the_signals():
    signals = np.arange(2 * 50, dtype=np.float32).reshape(2, 50)
    windows = training_windows(signals, window=8, count=20, seed=0)
    assert windows.shape == (20, 8, 1) and windows.dtype == np.float32
    for crop in windows[..., 0]:
        row, start = divmod(int(crop[0]), 50)
        assert start + 8 <= 50
        assert np.array_equal(crop, signals[row, start : start + 8])
    assert np.array_equal(windows, training_windows(signals, 8, 20, seed=0))


def test_one_step_mse_compares_each_forecast_with_the_next_sample():
    actual = np.array([[0.0, 1.0, 3.0, 6.0]])
    forecast = np.array([[1.0, 2.0, 3.0, 99.0]])  # the last forecast has nothing to compare with
    assert one_step_mse(actual, forecast) == np.mean([0.0, 1.0, 9.0])
    assert last_value_mse(actual) == np.mean([1.0, 4.0, 9.0])


def test_history_window_ends_at_t_and_is_shorter_at_the_start():
    stream = np.arange(10, dtype=np.float32)
    assert history_window(stream, 6, 4).ravel().tolist() == [3.0, 4.0, 5.0, 6.0]
    assert history_window(stream, 1, 4).ravel().tolist() == [0.0, 1.0]
    assert history_window(stream, 6, 4).shape == (1, 4, 1)
