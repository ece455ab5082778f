"""The training progress bar follows Keras' own record of the fit, one step per epoch."""

import ipywidgets as widgets
import pytest

from helpers.models.forecast_data import sine_mixture
from helpers.models.keras_forecaster import build_forecaster
from helpers.widgets.training_progress import train_with_progress


def test_train_with_progress_advances_the_bar_once_per_epoch():
    bar = widgets.IntProgress()
    model = build_forecaster(4, seed=1)
    losses = train_with_progress(model, sine_mixture(64, 17, seed=0), epochs=3, progress=bar)
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert bar.max == 3 and bar.value == 3
    label, shown = bar.description.split()
    assert label == "loss" and float(shown) == pytest.approx(losses[-1], abs=1e-4)


def test_each_epoch_shows_the_loss_keras_recorded_for_it():
    bar = widgets.IntProgress()
    changes: list[tuple[str, object]] = []
    bar.observe(
        lambda change: changes.append((change["name"], change["new"])), ["value", "description"]
    )
    model = build_forecaster(2, seed=0)
    losses = train_with_progress(model, sine_mixture(32, 9, seed=5), 2, bar, batch_size=16)

    recorded = model.history.history["loss"]  # Keras' History callback, kept on the model
    assert len(recorded) == 2 and losses == pytest.approx(recorded)
    assert bar.max == 2 and bar.value == 2
    assert [name for name, _ in changes] == [
        "description",
        "value",
        "description",
        "value",
        "description",
    ]
    descriptions = [new for name, new in changes if name == "description"]
    values = [new for name, new in changes if name == "value"]
    assert descriptions[0] == "training" and values == [1, 2]
    for description, loss in zip(descriptions[1:], recorded, strict=True):
        label, shown = str(description).split()
        assert label == "loss" and float(shown) == pytest.approx(loss, abs=1e-4)
