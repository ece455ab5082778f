"""The functions a notebook's cells define, to compare with the helpers that repeat them."""

import ast
import inspect
from pathlib import Path
from types import ModuleType

import nbformat

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def top_level_functions(source: str) -> dict[str, str]:
    """Source text of each top-level function in `source`, by name."""
    tree = ast.parse(source)
    return {
        node.name: ast.get_source_segment(source, node, padded=True) or ""
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
    }


def functions_in_notebook(name: str) -> dict[str, str]:
    """Every top-level function the code cells of notebooks/`name` define, by name."""
    found: dict[str, str] = {}
    for cell in nbformat.read(NOTEBOOK_DIR / name, as_version=4).cells:
        if cell.cell_type == "code":
            found.update(top_level_functions(cell.source))
    return found


def functions_in_module(module: ModuleType) -> dict[str, str]:
    """Every top-level function of `module`, by name."""
    return top_level_functions(inspect.getsource(module))
