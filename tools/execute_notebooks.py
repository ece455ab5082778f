"""Re-execute notebooks in place in this environment: the one way committed outputs are produced.

Run by `make notebooks` as `python -m tools.execute_notebooks notebooks/*.ipynb`.
"""

import argparse
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert.preprocessors import CoalesceStreamsPreprocessor

CELL_TIMEOUT_SECONDS = 300


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
