"""Seeded synthetic signals to train forecasters on, and the one-step error measures.

Used in notebook 05 (`sine_mixture` and the errors) and notebook 11 (sensors, windows, errors).
A sensor signal is an hourly reading with a daily cycle (period 24 samples) plus a second harmonic,
a slow drift and noise. Forecasts are one step ahead: `forecast[t]` predicts `actual[t + 1]`.
"""

import numpy as np

DAY = 24


def sine_mixture(count: int, length: int, seed: int = 0, noise: float = 0.0) -> np.ndarray:
    """Return `count` signals [count, length, 1]: a sum of two sines with random phase."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)[None, :] * 0.3 + rng.uniform(0.0, 2.0 * np.pi, size=(count, 1))
    signal = np.sin(t) + 0.5 * np.sin(2.3 * t) + noise * rng.standard_normal(t.shape)
    return signal.astype(np.float32)[..., None]


def sensor_signals(count: int, length: int, seed: int = 0, noise: float = 0.05) -> np.ndarray:
    """Return `count` signals [count, length] (float32): daily cycle + harmonic + drift + noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)[None, :].astype(np.float64)
    amplitude = rng.uniform(0.6, 1.0, size=(count, 1))
    phase = rng.uniform(0.0, 2.0 * np.pi, size=(count, 2))
    drift_period = rng.uniform(300.0, 600.0, size=(count, 1))
    drift_phase = rng.uniform(0.0, 2.0 * np.pi, size=(count, 1))
    level = rng.uniform(-0.3, 0.3, size=(count, 1))
    daily = amplitude * np.sin(2.0 * np.pi * t / DAY + phase[:, :1])
    harmonic = 0.3 * np.sin(4.0 * np.pi * t / DAY + phase[:, 1:])
    drift = level + 0.3 * np.sin(2.0 * np.pi * t / drift_period + drift_phase)
    signal = daily + harmonic + drift + noise * rng.standard_normal((count, length))
    return signal.astype(np.float32)


def training_windows(signals: np.ndarray, window: int, count: int, seed: int = 0) -> np.ndarray:
    """`count` random crops of `window` samples from `signals` [S, T], shaped [count, window, 1]."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, signals.shape[0], size=count)
    starts = rng.integers(0, signals.shape[1] - window + 1, size=count)
    crops = np.stack([signals[r, s : s + window] for r, s in zip(rows, starts, strict=True)])
    return crops[..., None].astype(np.float32)


def one_step_mse(actual: np.ndarray, forecast: np.ndarray) -> float:
    """MSE of one-step forecasts: `forecast[..., t]` against `actual[..., t + 1]`."""
    return float(np.mean((forecast[..., :-1] - actual[..., 1:]) ** 2, dtype=np.float64))


def last_value_mse(actual: np.ndarray) -> float:
    """The naive forecast's error: predict that the next sample equals the current one."""
    return one_step_mse(actual, actual)


def history_window(stream: np.ndarray, t: int, window: int) -> np.ndarray:
    """The last `window` samples of `stream` up to `t` included (fewer at the start), [1, n, 1]."""
    return stream[max(0, t - window + 1) : t + 1].reshape(1, -1, 1).astype(np.float32)
