"""An interactive panel over one infer request: Step, Reset or Set state and watch the state.

Taught in notebook 02 (the State API), on the summator.
"""

from dataclasses import dataclass, field

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import openvino as ov


@dataclass
class StateEvent:
    """One action on the request and the state right after it (None where it is undefined)."""

    action: str
    value: float | None
    # The documents call a state read right after a reset undefined, so a reset records none.
    state: float | None


@dataclass
class StatefulStepper:
    """Drive a single-input, single-variable stateful model one step at a time and log its state."""

    compiled: ov.CompiledModel
    request: ov.InferRequest = field(init=False)
    events: list[StateEvent] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.request = self.compiled.create_infer_request()

    @property
    def state(self) -> float:
        """The current value of the model's only variable (a copy, not a live view)."""
        return float(self.request.query_state()[0].state.data.copy().reshape(-1)[0])

    def step(self, value: float) -> float:
        """Infer one input value; return the model's output."""
        data = np.full(self.compiled.input(0).get_shape(), value, dtype=np.float32)
        output = float(self.request.infer({0: data})[0].reshape(-1)[0])
        self.events.append(StateEvent("step", value, self.state))
        return output

    def reset(self) -> None:
        """Reset every variable; the next step starts from the initializer (nothing is read)."""
        self.request.reset_state()
        self.events.append(StateEvent("reset", None, None))

    def set_state(self, value: float) -> None:
        """Overwrite the variable with `value`."""
        variable = self.request.query_state()[0]
        variable.state = ov.Tensor(np.full(variable.state.shape, value, dtype=np.float32))
        self.events.append(StateEvent("set", value, self.state))


def plot_state_history(events: list[StateEvent], ax: plt.Axes) -> None:
    """Plot the state after each event, marking resets (no value: undefined) and explicit sets."""
    states = [np.nan if e.state is None else e.state for e in events]
    ax.plot(range(1, len(states) + 1), states, marker="o", color="#2a9d8f")
    for index, event in enumerate(events, start=1):
        if event.action != "step":
            ax.axvline(index, color="#e76f51", linestyle="--", linewidth=1)
            ax.annotate(
                event.action,
                (index, 0.9),
                xycoords=ax.get_xaxis_transform(),
                textcoords="offset points",
                xytext=(4, 0),
                color="#e76f51",
            )
    ax.set_xlabel("action")
    ax.set_ylabel("state")
    ax.grid(alpha=0.3)


def build_state_panel(stepper: StatefulStepper) -> widgets.VBox:
    """Return the widget: value box, Step/Reset/Set state buttons, a state label and a live plot."""
    value_box = widgets.FloatText(value=1.0, description="value")
    step_button = widgets.Button(description="Step", button_style="primary")
    reset_button = widgets.Button(description="Reset", button_style="warning")
    set_button = widgets.Button(description="Set state")
    state_label = widgets.HTML()
    plot_area = widgets.Output()

    def refresh() -> None:
        last = stepper.events[-1] if stepper.events else None
        if last is not None and last.state is None:
            shown = "state undefined after a reset: the next Step starts from the initializer"
        else:
            shown = f"state = {stepper.state:g}"
        state_label.value = f"<b>{shown}</b> after {len(stepper.events)} actions"
        with plot_area:
            plot_area.clear_output(wait=True)
            _, ax = plt.subplots(figsize=(6, 2.5))
            plot_state_history(stepper.events, ax)
            plt.show()

    def on_step(_: widgets.Button) -> None:
        stepper.step(value_box.value)
        refresh()

    def on_reset(_: widgets.Button) -> None:
        stepper.reset()
        refresh()

    def on_set(_: widgets.Button) -> None:
        stepper.set_state(value_box.value)
        refresh()

    step_button.on_click(on_step)
    reset_button.on_click(on_reset)
    set_button.on_click(on_set)
    refresh()
    buttons = widgets.HBox([value_box, step_button, reset_button, set_button])
    return widgets.VBox([buttons, state_label, plot_area])
