"""Readers can move through the walkthrough: headers link to neighbours, README to all."""

import json
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LINK = re.compile(r"\]\(([^)#?\s]+)")


def first_markdown(notebook: Path) -> str:
    """The text of the notebook's first markdown cell."""
    cells = json.loads(notebook.read_text())["cells"]
    return "".join(next(c for c in cells if c["cell_type"] == "markdown")["source"])


@pytest.mark.parametrize("index", range(len(NOTEBOOKS)), ids=[n.stem for n in NOTEBOOKS])
def test_header_links_to_previous_and_next_notebook(index):
    header = first_markdown(NOTEBOOKS[index])
    links = LINK.findall(header)
    if index > 0:
        assert NOTEBOOKS[index - 1].name in links
    if index + 1 < len(NOTEBOOKS):
        assert NOTEBOOKS[index + 1].name in links
    for target in links:
        assert (NOTEBOOKS[index].parent / target).resolve().exists(), target


def test_readme_links_every_notebook_and_binder_opens_the_first():
    readme = (REPO_ROOT / "README.md").read_text()
    links = set(LINK.findall(readme))
    assert {f"notebooks/{n.name}" for n in NOTEBOOKS} <= links
    binder = re.search(r"mybinder\.org/v2/gh/\S+\?urlpath=lab/tree/(\S+\.ipynb)", readme)
    assert binder and binder.group(1) == f"notebooks/{NOTEBOOKS[0].name}"
