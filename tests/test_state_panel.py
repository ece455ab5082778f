"""The panel's stepper drives one infer request; checked against numpy running sums."""

import ipywidgets as widgets
import numpy as np

from helpers.models.summator import build_summator
from helpers.widgets.state_panel import StatefulStepper, build_state_panel


def test_step_reset_and_set_state_follow_the_running_sum(core):
    stepper = StatefulStepper(core.compile_model(build_summator(), "CPU"))
    outputs = [stepper.step(v) for v in (1.0, 2.0, 3.0)]
    assert outputs == list(np.cumsum([1.0, 2.0, 3.0]))
    stepper.reset()
    assert stepper.step(5.0) == 5.0
    stepper.set_state(100.0)
    assert stepper.state == 100.0
    assert stepper.step(1.0) == 101.0
    assert [e.action for e in stepper.events] == ["step"] * 3 + ["reset", "step", "set", "step"]
    assert [e.state for e in stepper.events] == [1.0, 3.0, 6.0, None, 5.0, 100.0, 101.0]


def test_reset_records_no_state_and_the_next_step_starts_from_the_initializer(core):
    # With a non-zero initializer a read right after the reset would show a wrong start.
    stepper = StatefulStepper(core.compile_model(build_summator(initial_value=7.0), "CPU"))
    first = [stepper.step(v) for v in (1.0, 2.0)]
    stepper.reset()
    again = stepper.step(1.0)
    assert first == (7.0 + np.cumsum([1.0, 2.0])).tolist()
    assert stepper.events[2].state is None and stepper.events[2].value is None
    assert again == 7.0 + 1.0 == stepper.events[3].state


def test_panel_buttons_call_the_stepper(core):
    stepper = StatefulStepper(core.compile_model(build_summator(), "CPU"))
    panel = build_state_panel(stepper)
    buttons = {
        w.description: w for w in panel.children[0].children if isinstance(w, widgets.Button)
    }
    value_box = panel.children[0].children[0]
    value_box.value = 4.0
    buttons["Step"].click()
    buttons["Step"].click()
    assert stepper.state == 8.0
    assert "state = 8" in panel.children[1].value
    buttons["Reset"].click()
    assert "undefined" in panel.children[1].value
    assert "state =" not in panel.children[1].value
    value_box.value = 2.5
    buttons["Set state"].click()
    assert stepper.state == 2.5
    assert "state = 2.5" in panel.children[1].value
