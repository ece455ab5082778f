"""The server's sub-packages import only from the layers below them (see its README's Layout),
never the notebooks' client package (`helpers.serving`) or any other `helpers` package, and no
two of its modules import each other, directly or around a loop."""

import ast
from pathlib import Path

import pytest

from helpers.paths import REPO_ROOT

SERVER = REPO_ROOT / "helpers" / "model_server"
# Each layer and the layers it may import from.
ALLOWED = {
    "config": {"protocol"},
    "process": {"protocol"},
    "protocol": set(),
    "core": {"config", "process", "protocol"},
    "dataplane": {"core", "protocol"},
    "grpc_api": {"core", "dataplane", "protocol", "process"},
    "rest_api": {"core", "dataplane", "protocol", "process"},
}


def imported_modules(path: Path) -> set[str]:
    """Every `helpers...` module that the module at `path` imports (at any level of its code)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] == "helpers"}


def server_imports(path: Path) -> set[str]:
    """The server sub-packages that the module at `path` imports."""
    parts = (name.split(".") for name in imported_modules(path))
    return {p[2] for p in parts if p[:2] == ["helpers", "model_server"] and len(p) > 2}


def module_name(path: Path) -> str:
    """`helpers.model_server.x.y` for a file of the server (a package by its folder)."""
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_every_sub_package_has_a_place_in_the_layers():
    packages = {p.name for p in SERVER.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(ALLOWED)


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_the_layers_below_it(layer: str):
    for path in sorted((SERVER / layer).rglob("*.py")):
        imported = server_imports(path) - {layer}
        assert imported <= ALLOWED[layer], (
            f"{path.name} imports {sorted(imported - ALLOWED[layer])}"
        )


def test_the_server_imports_no_other_helpers_package():
    for path in sorted(SERVER.rglob("*.py")):
        outside = {m for m in imported_modules(path) if not m.startswith("helpers.model_server")}
        assert not outside, f"{path.relative_to(SERVER)} imports {sorted(outside)}"


def test_no_import_cycle_between_server_modules():
    graph = {module_name(path): imported_modules(path) for path in SERVER.rglob("*.py")}
    graph = {name: {m for m in deps if m in graph and m != name} for name, deps in graph.items()}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        assert name not in path, "import cycle: " + " -> ".join([*path[path.index(name) :], name])
        if name in done:
            return
        for dependency in sorted(graph[name]):
            visit(dependency, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
