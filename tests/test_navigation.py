"""Readers can follow the walkthrough: parts, neighbours, contents, an exercise, README to all.

The reading order lives in `tests/reading_order.py`; a notebook of it that is missing fails.
"""

import ast
import json
import re
from pathlib import Path

import pytest

from tests.reading_order import NOTEBOOK_DIR, PART_OF, PARTS, READING_ORDER

REPO_ROOT = NOTEBOOK_DIR.parent
# A link target, allowing one level of balanced parentheses, as in "#2.-A-restart-(ours)".
LINK = re.compile(r"\]\(((?:[^()\s]|\([^()\s]*\))+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.MULTILINE)
COMMENTED_ASSERT = re.compile(r"^#\s*(assert\b.*)$", re.MULTILINE)
MARKUP = re.compile(r"#\s*NBVAL_|#\s*noqa|#\s*fmt:|native_stderr_silenced")
SKELETON = ("What you will learn", "Prerequisites and time", "Summary", "What's next", "References")


def cells_of(name: str) -> list[dict]:
    """The notebook's cells, their source joined."""
    path = NOTEBOOK_DIR / name
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [{**cell, "source": "".join(cell["source"])} for cell in cells]


def markdown(cells: list[dict]) -> list[str]:
    """The text of every markdown cell, in order."""
    return [cell["source"] for cell in cells if cell["cell_type"] == "markdown"]


def anchor(heading: str) -> str:
    """JupyterLab's id for a heading: its rendered text with spaces turned into '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = re.sub(r"[`*]", "", text)  # code and emphasis marks do not show
    return text.strip().replace(" ", "-")


def is_unwritten_notebook(target: str) -> bool:
    """True for a link to a notebook of the reading order that is not in the folder yet."""
    name = Path(target).name
    return name in READING_ORDER and not (NOTEBOOK_DIR / name).exists()


def test_the_folder_holds_exactly_the_notebooks_of_the_reading_order():
    present = sorted(path.name for path in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    assert present == list(READING_ORDER)
    assert [name[:2] for name in READING_ORDER] == [f"{n:02d}" for n in range(1, 13)]


@pytest.mark.parametrize("name", READING_ORDER)
def test_header_names_its_part_and_links_previous_and_next(name):
    header = markdown(cells_of(name))[0]
    index = READING_ORDER.index(name)
    links = LINK.findall(header)
    assert f"**{PART_OF[name]}**" in header
    assert header.startswith(f"# {name[:2]} · ")
    if index > 0:
        assert READING_ORDER[index - 1] in links
    if index + 1 < len(READING_ORDER):
        assert READING_ORDER[index + 1] in links
    else:
        assert "../README.md" in links
    for target in links:
        if not target.startswith(("http", "#")) and not is_unwritten_notebook(target):
            assert (NOTEBOOK_DIR / target).resolve().exists(), target


@pytest.mark.parametrize("name", READING_ORDER)
def test_contents_link_to_the_notebooks_own_headings(name):
    cells = cells_of(name)
    first_code = next(i for i, cell in enumerate(cells) if cell["cell_type"] == "code")
    top = "\n".join(markdown(cells[:first_code]))
    contents = [target[1:] for target in LINK.findall(top) if target.startswith("#")]
    headings = {anchor(h) for text in markdown(cells) for h in HEADING.findall(text)}
    assert len(contents) >= 3, "no table of contents before the first code cell"
    assert set(contents) <= headings, set(contents) - headings


@pytest.mark.parametrize("name", READING_ORDER)
def test_skeleton_and_an_exercise_with_an_assert_to_uncomment(name):
    cells = cells_of(name)
    headings = [h for text in markdown(cells) for h in HEADING.findall(text)]
    for section in SKELETON:
        assert any(h.replace("\u2019", "'") == section for h in headings), section
    start = next((i for i, c in enumerate(cells) if "## Try it yourself" in c["source"]), None)
    assert start is not None, "no Try it yourself section"
    after = [c["source"] for c in cells[start + 1 :] if c["cell_type"] == "code"]
    answers = [line for source in after for line in COMMENTED_ASSERT.findall(source)]
    assert answers, "Try it yourself has no assert for the learner to uncomment"
    for line in answers:
        ast.parse(line)  # uncommented, it is valid Python


@pytest.mark.parametrize("name", READING_ORDER)
def test_learner_code_carries_no_test_or_lint_markup(name):
    code = [c["source"] for c in cells_of(name) if c["cell_type"] == "code"]
    assert [line for source in code for line in source.splitlines() if MARKUP.search(line)] == []


def test_readme_lists_every_notebook_in_reading_order_and_binder_opens_the_first():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("|") and "](notebooks/" in line]
    first_links = [next(t for t in LINK.findall(row) if t.startswith("notebooks/")) for row in rows]
    listed = [Path(target).name for target in first_links]
    assert listed == READING_ORDER
    for part in PARTS:
        assert part.split(" · ")[1] in readme, part
    binder = re.search(r"mybinder\.org/v2/gh/\S+\?urlpath=lab/tree/(\S+\.ipynb)", readme)
    assert binder and binder.group(1) == f"notebooks/{READING_ORDER[0]}"
