"""The summator builders compute running sums, checked against numpy; notebook 01 teaches them."""

import ast
import inspect
from pathlib import Path

import nbformat
import numpy as np
import openvino as ov
import pytest

from helpers.models import summator
from helpers.models.summator import (
    build_stateless_summator,
    build_summator,
    read_documented_summator,
)

NOTEBOOK_01 = Path(__file__).parents[1] / "notebooks" / "01_summator_from_scratch.ipynb"

rng = np.random.default_rng(0)
INPUTS = rng.uniform(-5, 5, size=25).astype(np.float32)


def run_stateful(compiled: ov.CompiledModel, values: np.ndarray) -> tuple[list[float], list[float]]:
    """Return (outputs, state after each step) for one infer request."""
    request = compiled.create_infer_request()
    outputs, states = [], []
    for value in values:
        outputs.append(float(request.infer({0: np.array([[value]], np.float32)})[0][0, 0]))
        states.append(float(request.query_state()[0].state.data[0, 0]))
    return outputs, states


def test_stateful_summator_output_and_state_are_the_running_sum(core):
    outputs, states = run_stateful(core.compile_model(build_summator(), "CPU"), INPUTS)
    expected = np.cumsum(INPUTS, dtype=np.float64)
    np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(states, expected, rtol=1e-5, atol=1e-5)


def test_initial_value_offsets_the_sum(core):
    outputs, _ = run_stateful(core.compile_model(build_summator(initial_value=7.0), "CPU"), INPUTS)
    np.testing.assert_allclose(outputs, 7.0 + np.cumsum(INPUTS, dtype=np.float64), atol=1e-4)


def test_summator_has_one_variable_with_the_requested_id():
    model = build_summator(variable_id="acc")
    assert [v.info.variable_id for v in model.get_variables()] == ["acc"]
    assert [s.get_type_name() for s in model.get_sinks()] == ["Assign"]


def test_stateless_summator_matches_when_state_is_fed_back(core):
    request = core.compile_model(build_stateless_summator(), "CPU").create_infer_request()
    state = np.zeros((1, 1), np.float32)
    outputs = []
    for value in INPUTS:
        result = request.infer({"x": np.array([[value]], np.float32), "state_in": state})
        outputs.append(float(result["y"][0, 0]))
        state = result["state_out"].copy()
    np.testing.assert_allclose(outputs, np.cumsum(INPUTS, dtype=np.float64), atol=1e-4)


def test_documented_ir_outputs_state_plus_previous_state(core):
    compiled = core.compile_model(read_documented_summator(core), "CPU")
    values = np.array([1, 2, 3, 4], np.float32)
    outputs, states = run_stateful(compiled, values)
    sums = np.cumsum(values)
    previous = np.concatenate([[0.0], sums[:-1]])
    assert states == pytest.approx(sums)
    assert outputs == pytest.approx(sums + previous)


def test_vector_summator_sums_elementwise(core):
    request = core.compile_model(build_summator(shape=[1, 3]), "CPU").create_infer_request()
    rows = rng.uniform(-1, 1, size=(6, 1, 3)).astype(np.float32)
    outputs = np.stack([request.infer({0: row})[0] for row in rows])
    np.testing.assert_allclose(outputs, np.cumsum(rows, axis=0), atol=1e-5)


def top_level_statements(source: str) -> dict[str, str]:
    """Source text of each top-level function and assignment in `source`, by name."""
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = ast.get_source_segment(source, node, padded=True)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            found[node.target.id] = ast.get_source_segment(source, node, padded=True)
    return found


def test_notebook_01_cells_define_the_helpers_word_for_word():
    notebook = nbformat.read(NOTEBOOK_01, as_version=4)
    in_cells: dict[str, str] = {}
    for cell in notebook.cells:
        if cell.cell_type == "code":
            in_cells.update(top_level_statements(cell.source))
    in_module = top_level_statements(inspect.getsource(summator))
    for name in ("SHAPE", "make_variable", "build_summator"):
        assert in_cells[name] == in_module[name], name
