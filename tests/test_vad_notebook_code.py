"""Notebook 06 teaches the two stateful builders in its cells; helpers/audio keeps the same code.

The tests and the benchmark import the helper; this keeps the copy equal to what the notebook
teaches, function by function, so that they check the code a learner reads.
"""

import ast
import inspect
import json

import pytest

from helpers.audio import silero_stateful
from helpers.paths import REPO_ROOT

NOTEBOOK = REPO_ROOT / "notebooks" / "06_voice_activity_detection.ipynb"


def notebook_functions() -> dict[str, str]:
    """Source of every top-level function defined in the notebook's code cells, by name."""
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    functions = {}
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef):
                functions[node.name] = ast.get_source_segment(source, node) or ""
    return functions


@pytest.mark.parametrize("name", ["make_state_variable", "add_audio_context"])
def test_the_helper_is_the_code_the_notebook_teaches(name):
    taught = notebook_functions()[name]
    assert taught == inspect.getsource(getattr(silero_stateful, name)).rstrip("\n")
