"""Where nginx is missing, nbval skips notebook 12: its stored outputs come from a run with nginx.

CI installs nginx (`make nginx` in .ci/run), so there a missing nginx fails the notebook instead.
"""

import os

import pytest

from helpers.serving.nginx import INSTALL_HINT, find_nginx

NEEDS_NGINX = "12_scaling_out.ipynb"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark notebook 12's cells skipped, with the reason, when nginx cannot be found."""
    if find_nginx() is not None or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason=f"notebook 12's stored outputs need nginx. {INSTALL_HINT}")
    for item in items:
        if item.path.name == NEEDS_NGINX:
            item.add_marker(skip)
