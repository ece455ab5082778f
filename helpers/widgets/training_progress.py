"""A progress bar that follows Keras training, one step per epoch. Used in notebook 11.

Importing this module imports TensorFlow (through `helpers.models.keras_forecaster`).
"""

import ipywidgets as widgets
import numpy as np

from helpers.models.keras_forecaster import keras, train_forecaster


def train_with_progress(
    model: keras.Model,
    windows: np.ndarray,
    epochs: int,
    progress: widgets.IntProgress,
    batch_size: int = 64,
) -> list[float]:
    """Fit `model` to predict each next sample of `windows` [N, T, 1], advancing `progress`.

    The bar's maximum becomes `epochs`; after each epoch its value and description (the loss)
    are updated, so a notebook shows one moving line instead of a log line per epoch.
    """
    progress.max, progress.value, progress.description = epochs, 0, "training"

    def advance(epoch: int, logs: dict[str, float] | None) -> None:
        progress.value = epoch + 1
        progress.description = f"loss {(logs or {}).get('loss', float('nan')):.4f}"

    return train_forecaster(model, windows, epochs, batch_size, on_epoch_end=advance)
