"""Compare the stored outputs of notebooks/*.ipynb with those at a git revision.

`python -m tools.compare_outputs REV` lists every code cell whose outputs changed, apart from
timing cells (`# NBVAL_IGNORE_OUTPUT`) and a stream split into several outputs with the same text.
Used to check that a re-execution after a refactor left the notebooks' results alone.
"""

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

IGNORE_MARK = "NBVAL_IGNORE_OUTPUT"


def code_cells(notebook_text: str) -> list[dict[str, Any]]:
    """The code cells of a notebook given as JSON text."""
    return [c for c in json.loads(notebook_text)["cells"] if c["cell_type"] == "code"]


def stream_text(cell: dict[str, Any]) -> str:
    """All stream text of a cell, in order, as one string."""
    streams = [o for o in cell.get("outputs", []) if o["output_type"] == "stream"]
    return "".join("".join(o["text"]) for o in streams)


def rich_outputs(cell: dict[str, Any]) -> list[dict[str, Any]]:
    """The cell's outputs other than streams (results, images, errors)."""
    return [o for o in cell.get("outputs", []) if o["output_type"] != "stream"]


def changed_cells(path: Path, revision: str) -> list[int]:
    """Indexes of the code cells of `path` whose outputs differ from `revision`'s."""
    shown = subprocess.run(
        ["git", "show", f"{revision}:{path.as_posix()}"], capture_output=True, text=True, check=True
    )
    old, new = code_cells(shown.stdout), code_cells(path.read_text(encoding="utf-8"))
    if len(old) != len(new):
        return list(range(max(len(old), len(new))))
    changed = []
    for index, (before, after) in enumerate(zip(old, new, strict=True)):
        if IGNORE_MARK in "".join(after["source"]):
            continue
        same_text = stream_text(before) == stream_text(after)
        if not (same_text and rich_outputs(before) == rich_outputs(after)):
            changed.append(index)
    return changed


def main(argv: list[str] | None = None) -> int:
    """Print the changed cells per notebook; exit 1 if any changed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("revision", help="the git revision to compare with, e.g. HEAD~3")
    revision = parser.parse_args(argv).revision
    changed = 0
    for path in sorted(Path("notebooks").glob("*.ipynb")):
        cells = changed_cells(path, revision)
        changed += len(cells)
        print(f"{path}: {'outputs unchanged' if not cells else f'code cells changed: {cells}'}")
    return 1 if changed else 0


if __name__ == "__main__":
    raise SystemExit(main())
