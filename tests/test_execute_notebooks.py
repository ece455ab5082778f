"""tools.execute_notebooks honours cell tags and keeps them; a tagged error must really happen."""

from pathlib import Path

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

from tools.execute_notebooks import ExpectedErrorMissing, execute_in_place


def write_notebook(path: Path, cells: list[tuple[str, list[str]]]) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(source, metadata={"tags": tags} if tags else {})
        for source, tags in cells
    ]
    nbformat.write(notebook, path)
    return path


def test_tagged_error_is_kept_with_every_tag(tmp_path):
    path = write_notebook(
        tmp_path / "tagged.ipynb",
        [
            ("print('varies')", ["nbval-ignore-output"]),
            ("raise ValueError('the lesson')", ["raises-exception"]),
            ("print('after the error')", []),
        ],
    )
    execute_in_place(path)
    cells = nbformat.read(path, as_version=4).cells
    assert [cell.metadata.get("tags", []) for cell in cells] == [
        ["nbval-ignore-output"],
        ["raises-exception"],
        [],
    ]
    assert [output.output_type for output in cells[1].outputs] == ["error"]
    assert cells[1].outputs[0].evalue == "the lesson"
    assert cells[2].outputs[0].text == "after the error\n"
    assert [cell.execution_count for cell in cells] == [1, 2, 3]


def test_untagged_error_stops_the_run(tmp_path):
    path = write_notebook(tmp_path / "untagged.ipynb", [("raise ValueError('unplanned')", [])])
    with pytest.raises(CellExecutionError, match="unplanned"):
        execute_in_place(path)


def test_tagged_cell_that_does_not_raise_is_refused(tmp_path):
    path = write_notebook(tmp_path / "clean.ipynb", [("x = 1", ["raises-exception"])])
    with pytest.raises(ExpectedErrorMissing, match=r"cells \[0\]"):
        execute_in_place(path)
