"""A small Keras LSTM forecaster trained on synthetic data, and its one-step twin for OpenVINO.

Taught in notebook 05 (a model from a real framework; its cells define `build_step_model` word for
word, kept equal by a test); notebook 11 trains and serves one.
Importing this module imports TensorFlow (about 3 s); its native log lines are kept out of cells.
"""

import warnings
from collections.abc import Callable

import numpy as np
import openvino as ov

from helpers.models.tensorflow_frontend_fix import repair_tensorflow_frontend
from helpers.quiet import native_stderr_silenced

with native_stderr_silenced():
    import keras

repair_tensorflow_frontend()  # Python 3.13: OpenVINO 2026.4 cannot convert Keras models otherwise

STEP_OUTPUTS: tuple[str, str, str] = ("y", "h_out", "c_out")


def build_forecaster(hidden_size: int, seed: int = 0) -> keras.Model:
    """An LSTM(hidden_size) + Dense(1) next-value forecaster over sequences of any length."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None, 1), name="x")
    hidden = keras.layers.LSTM(hidden_size, return_sequences=True, name="lstm")(inputs)
    outputs = keras.layers.Dense(1, name="head")(hidden)
    return keras.Model(inputs, outputs, name="forecaster")


EpochEnd = Callable[[int, dict[str, float] | None], None]


def train_forecaster(
    model: keras.Model,
    signals: np.ndarray,
    epochs: int = 15,
    batch_size: int = 32,
    on_epoch_end: EpochEnd | None = None,
) -> list[float]:
    """Fit `model` to predict each next sample of `signals` [N, T, 1]; return the loss per epoch.

    `on_epoch_end(epoch, logs)` is called after each epoch with Keras' logs (the loss so far).
    """
    model.compile(keras.optimizers.Adam(0.01), "mse")
    callbacks = (
        [] if on_epoch_end is None else [keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)]
    )
    history = model.fit(
        signals[:, :-1],
        signals[:, 1:],
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
        callbacks=callbacks,
    )
    return [float(v) for v in history.history["loss"]]


def build_step_model(trained: keras.Model) -> keras.Model:
    """One time step of `trained` with explicit states: (x, h_in, c_in) -> (y, h_out, c_out).

    The LSTM is unrolled (one step needs no loop) and its weights are copied from `trained`.
    """
    lstm, head = trained.get_layer("lstm"), trained.get_layer("head")
    hidden_size = lstm.units
    x = keras.Input((1, 1), batch_size=1, name="x")
    h_in = keras.Input((hidden_size,), batch_size=1, name="h_in")
    c_in = keras.Input((hidden_size,), batch_size=1, name="c_in")
    step_lstm = keras.layers.LSTM(
        hidden_size, return_sequences=True, return_state=True, unroll=True, name="lstm"
    )
    sequence, h_out, c_out = step_lstm(x, initial_state=[h_in, c_in])
    step_head = keras.layers.Dense(1, name="head")
    y = step_head(sequence)
    step = keras.Model([x, h_in, c_in], [y, h_out, c_out], name="forecaster_step")
    step_lstm.set_weights(lstm.get_weights())
    step_head.set_weights(head.get_weights())
    return step


def convert_quietly(model: keras.Model, **kwargs: object) -> ov.Model:
    """`ov.convert_model(model)` without Keras' harmless input-structure UserWarning."""
    with warnings.catch_warnings(), native_stderr_silenced():
        warnings.simplefilter("ignore", UserWarning)
        return ov.convert_model(model, **kwargs)


def name_step_outputs(ov_step: ov.Model, keras_step: keras.Model) -> ov.Model:
    """Give the converted step model's outputs the names y, h_out, c_out (in place; returned).

    `ov.convert_model` names outputs after Keras-internal tensors (keras_tensor_N) and may
    reorder them; the Keras model's own output list says which is which.
    """
    for keras_tensor, name in zip(keras_step.outputs, STEP_OUTPUTS, strict=True):
        output = ov_step.output(keras_tensor.name)
        output.get_tensor().set_names({name})
        output.get_node().set_friendly_name(name)
    return ov_step


def drop_inner_tensor_names(model: ov.Model) -> ov.Model:
    """Leave tensor names only on model inputs and outputs (in place; returned).

    Converted Keras models name inner tensors after TensorFlow nodes (`.../Tensordot:0`), and the
    tensor feeding an output keeps those names next to ours. The compiled model then lists them
    too, and `get_any_name()`, which a server may use to name its outputs, can return one of them.
    """
    output_names = [set(port.get_names()) for port in model.outputs]
    keep = {name for port in model.inputs for name in port.get_names()}
    for op in model.get_ordered_ops():
        if op.get_type_name() in ("Parameter", "Result"):
            continue
        for output in op.outputs():
            if output.get_names() - keep:
                output.get_tensor().set_names(output.get_names() & keep)
    for port, names in zip(model.outputs, output_names, strict=True):
        port.get_node().input_value(0).get_tensor().set_names(names)
        port.get_tensor().set_names(names)
    return model
