"""Fixtures for the browser test: one JupyterLab for all notebooks, and a report at the end."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.lab import Lab, running_lab
from tests.reading_order import NOTEBOOK_DIR, READING_ORDER

REPO_ROOT = Path(__file__).resolve().parents[2]
# All twelve, in reading order; a missing one fails its test rather than vanishing from the run.
NOTEBOOKS = [NOTEBOOK_DIR / name for name in READING_ORDER]
BUILD_DIR = REPO_ROOT / "build" / "browser"


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """All notebooks in one JupyterLab, one after the other, as a Binder user runs them."""
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    present = [notebook for notebook in NOTEBOOKS if notebook.exists()]
    with running_lab(present, tmp_path_factory.mktemp("lab")) as running:
        yield running


@pytest.fixture(scope="session")
def report(lab: Lab) -> Iterator[list[dict[str, object]]]:
    """Rows collected by the tests, written to build/browser/report.md at the end."""
    rows: list[dict[str, object]] = []
    yield rows
    lines = [
        "| notebook | code cells run | seconds | images | widgets | peak PSS so far (MB) |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['notebook']} | {r['executed']} | {r['seconds']:.1f} | {r['images']} "
        f"| {r['widgets']} | {r['peak_mb']:.0f} |"
        for r in rows
    ]
    peaks = lab.memory.peak_by_process
    kernels = sum(size for label, size in peaks.items() if label.startswith("kernel"))
    largest = sorted(peaks.items(), key=lambda item: -item[1])[:8]
    lines += [
        "",
        "Peak memory (PSS) of JupyterLab and everything it started, each notebook's kernel shut "
        f"down before the next notebook: {lab.memory.peak_bytes / 2**20:.0f} MB.",
        f"The kernels' own peaks add up to {kernels / 2**20:.0f} MB: roughly what leaving every "
        "kernel running would cost.",
        "Largest processes at their own peak: "
        + ", ".join(f"{label} {size / 2**20:.0f} MB" for label, size in largest),
    ]
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    (BUILD_DIR / "report.md").write_text("\n".join(lines) + "\n")
    print("\n" + "\n".join(lines))
