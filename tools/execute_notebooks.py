"""Re-execute notebooks in place in this environment: the one way committed outputs are produced.

Run by `make notebooks` as `python -m tools.execute_notebooks notebooks/*.ipynb`.

Test behaviour lives in cell metadata tags, never in the code a learner reads: `raises-exception`
marks a cell whose error is the lesson (nbclient runs on past it, nbval expects it, and this tool
refuses the notebook if the cell did not raise); `nbval-ignore-output` and `nbval-skip` are for
nbval only. Tags and other metadata are kept as they are.
"""

import argparse
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert.preprocessors import CoalesceStreamsPreprocessor

CELL_TIMEOUT_SECONDS = 300
RAISES_TAG = "raises-exception"


class ExpectedErrorMissing(RuntimeError):
    """A cell tagged `raises-exception` ran without an error."""


def cells_that_should_have_raised(notebook: nbformat.NotebookNode) -> list[int]:
    """Indexes of the code cells tagged `raises-exception` that have no error output."""
    return [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        and RAISES_TAG in cell.metadata.get("tags", [])
        and not any(output.output_type == "error" for output in cell.outputs)
    ]


def execute_in_place(path: Path) -> None:
    """Run every cell of `path` top to bottom in a fresh python3 kernel and save the outputs."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_SECONDS,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        # False would be the natural choice, but nbclient's Output-widget hook then fails with a
        # KeyError; the state is recorded and dropped from the saved metadata below instead.
        store_widget_state=True,
        record_timing=False,
    )
    client.execute()
    if missing := cells_that_should_have_raised(notebook):
        raise ExpectedErrorMissing(
            f"{path}: cells {missing} are tagged {RAISES_TAG} but did not raise"
        )
    # ipykernel sends stdout from its IO thread on a 0.2 s timer, not line by line, and print()
    # makes one write() per argument, separator and newline; on a loaded machine the timer can fire
    # between two of them, and nbclient stores each message as its own output (a line split in
    # two, as 04 once showed). One stream output per cell keeps the stored text the same.
    CoalesceStreamsPreprocessor().preprocess(notebook, {})
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, path)


def main(argv: list[str] | None = None) -> None:
    """Execute each notebook named on the command line, in order."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("notebooks", nargs="+", type=Path, help="the .ipynb files to run and save")
    for path in parser.parse_args(argv).notebooks:
        print(f"executing {path}", flush=True)
        execute_in_place(path)


if __name__ == "__main__":
    main()
