"""Every notebook runs in JupyterLab in headless Chromium: no error, every cell, visible output."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.browser.conftest import BUILD_DIR, NOTEBOOKS
from tests.browser.lab import Lab, shut_down_kernels

pytestmark = pytest.mark.browser
DRIVER = Path(__file__).with_name("run_notebook.mjs")
STATE_LABEL = re.compile(r"state = (-?[\d.]+)")


def committed_expectations(notebook: Path) -> tuple[int, bool, bool]:
    """Return (code cells, has image outputs, has widget outputs) from the committed notebook."""
    cells = json.loads(notebook.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    kinds = {kind for c in code for o in c["outputs"] for kind in o.get("data", {})}
    return len(code), "image/png" in kinds, "application/vnd.jupyter.widget-view+json" in kinds


def run_in_browser(lab: Lab, notebook: Path, *flags: str) -> dict:
    """Run the Node driver on one notebook and return what it saw."""
    screenshot = BUILD_DIR / f"{notebook.stem}.png"
    command = ["node", str(DRIVER), lab.base_url, notebook.name, str(screenshot), *flags]
    done = subprocess.run(command, capture_output=True, text=True, timeout=400, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def state_in(label: str) -> float:
    """The number shown by the panel's label, e.g. 'state = 3 after 2 actions' -> 3.0."""
    match = STATE_LABEL.search(label)
    assert match, label
    return float(match.group(1))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs_like_a_person_would_run_it(notebook: Path, lab: Lab, report: list) -> None:
    assert notebook.exists(), f"{notebook.name} is in the reading order but not in notebooks/"
    code_cells, has_images, has_widgets = committed_expectations(notebook)
    flags = ("--click-state-panel",) if notebook.name.startswith("02_") else ()
    seen = run_in_browser(lab, notebook, *flags)
    report.append({**seen, "peak_mb": lab.memory.peak_bytes / 2**20})
    # As the notebooks ask readers to do on Binder: shut this kernel down before the next one.
    assert shut_down_kernels(lab.base_url) == 1

    assert "failure" not in seen, seen.get("failure")
    assert seen["stderr"] == [], "error or warning output in the browser"
    assert seen["prompts"] == [f"[{n}]:" for n in range(1, code_cells + 1)]
    if has_images:
        assert seen["images"] > 0, "plots did not render as images"
    if has_widgets:
        assert seen["widgets"] > 0, "widgets did not render as controls"
    if flags:
        panel = seen["panel"]
        # The value box still holds the last value the notebook typed (1.0): Step adds it.
        assert state_in(panel["afterStep"]) == state_in(panel["before"]) + 1.0
        # A read right after a reset is undefined: the panel shows no number, and the next Step
        # starts from the summator's initializer, zero.
        assert "undefined" in panel["afterReset"] and not STATE_LABEL.search(panel["afterReset"])
        assert state_in(panel["stepAfterReset"]) == 1.0
