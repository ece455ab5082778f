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
    assert [e.state for e in stepper.events] == [1.0, 3.0, 6.0, 0.0, 5.0, 100.0, 101.0]


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
    value_box.value = 2.5
    buttons["Set state"].click()
    assert stepper.state == 2.5
