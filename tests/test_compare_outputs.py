import json
import subprocess
from pathlib import Path

import pytest

from tools.compare_outputs import changed_cells


def notebook(cells: list[tuple[str, list[dict]]]) -> str:
    """A minimal nbformat-4 notebook with the given code cells (source, outputs)."""
    code = [
        {"cell_type": "code", "metadata": {}, "execution_count": i + 1, "source": source,
         "outputs": outputs}
        for i, (source, outputs) in enumerate(cells)
    ]  # fmt: skip
    return json.dumps({"cells": code, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def stream(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


@pytest.fixture
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q"], check=True)
    (tmp_path / "notebooks").mkdir()
    path = tmp_path / "notebooks" / "n.ipynb"
    path.write_text(notebook([("print(1)", [stream("a b\n")]), ("# NBVAL_IGNORE_OUTPUT", [])]))
    subprocess.run(["git", "add", "."], check=True)
    author = ["-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", *author, "commit", "-qm", "one"], check=True)
    return path


def test_a_stream_split_in_two_with_the_same_text_is_unchanged(repository: Path):
    cells = [("print(1)", [stream("a"), stream(" b\n")]), ("# NBVAL_IGNORE_OUTPUT", [])]
    repository.write_text(notebook(cells))
    assert changed_cells(Path("notebooks/n.ipynb"), "HEAD") == []


def test_other_text_or_a_new_result_is_a_change(repository: Path):
    repository.write_text(
        notebook([("print(1)", [stream("a c\n")]), ("# NBVAL_IGNORE_OUTPUT", [])])
    )
    assert changed_cells(Path("notebooks/n.ipynb"), "HEAD") == [0]
    result = {"output_type": "execute_result", "data": {"text/plain": "1"}, "metadata": {}}
    repository.write_text(notebook([("print(1)", [stream("a b\n"), result]), ("#", [])]))
    assert changed_cells(Path("notebooks/n.ipynb"), "HEAD") == [0]


def test_timing_cells_are_not_compared(repository: Path):
    repository.write_text(
        notebook([("print(1)", [stream("a b\n")]), ("# NBVAL_IGNORE_OUTPUT", [stream("9 us\n")])])
    )
    assert changed_cells(Path("notebooks/n.ipynb"), "HEAD") == []
