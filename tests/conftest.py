"""Shared fixtures: one OpenVINO Core and a non-interactive matplotlib backend."""

import matplotlib
import openvino as ov
import pytest

matplotlib.use("Agg")


@pytest.fixture(scope="session")
def core() -> ov.Core:
    """One Core for the whole session (creating one per test is slow)."""
    return ov.Core()
