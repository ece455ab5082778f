"""The server's sub-packages import only from the layers below them (see its README's Layout)."""

import ast
from pathlib import Path

import pytest

from helpers.paths import REPO_ROOT

SERVER = REPO_ROOT / "helpers" / "model_server"
# Each layer and the layers it may import from.
ALLOWED = {
    "config": set(),
    "process": set(),
    "protocol": set(),
    "core": {"config", "process", "protocol"},
    "dataplane": {"core", "protocol"},
    "grpc_api": {"core", "dataplane", "protocol", "process"},
    "rest_api": {"core", "dataplane", "protocol", "process"},
}


def server_imports(path: Path) -> set[str]:
    """The server sub-packages that the module at `path` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[:2] == ["helpers", "model_server"] and len(parts) > 2:
                found.add(parts[2])
    return found


def test_every_sub_package_has_a_place_in_the_layers():
    packages = {p.name for p in SERVER.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(ALLOWED)


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_the_layers_below_it(layer: str):
    for path in sorted((SERVER / layer).glob("*.py")):
        imported = server_imports(path) - {layer}
        assert imported <= ALLOWED[layer], (
            f"{path.name} imports {sorted(imported - ALLOWED[layer])}"
        )
