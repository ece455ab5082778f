"""Every module a notebook runs works on Windows too: no POSIX-only call without a platform guard.

The scan starts from the notebooks' code cells and the programs the set-up and the notebooks start
(`tools.bootstrap`, `tools.lab`, `tools.replicas`, the model server), follows their imports of
`helpers` and `tools`, and looks in each module for names that do not exist, or do something else,
on Windows. A use is guarded when an enclosing `if` (or conditional expression) tests
`sys.platform`, `os.name` or `hasattr(...)`, or when such an `if` earlier in the same block
returns or raises.
"""

import ast
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.make_runner import REPO_ROOT

ENTRY_POINTS = ("tools.bootstrap", "tools.lab", "tools.replicas", "helpers.model_server.__main__")
OUR_PACKAGES = ("helpers", "tools")
# Missing on Windows, or there a hard kill instead of a signal (os.kill, send_signal, terminate),
# or a new process instead of this one (os.exec*).
POSIX_ATTRIBUTES = {
    "os": {
        "getuid", "geteuid", "getgid", "getegid", "getgroups", "getpgid", "setsid", "setpgrp",
        "killpg", "fork", "forkpty", "kill", "execv", "execve", "execvp", "execvpe", "execl",
        "execlp", "nice", "uname", "sysconf", "getloadavg", "sched_getaffinity", "WNOHANG",
    },
    "signal": {
        "SIGQUIT", "SIGKILL", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGCHLD", "SIGPIPE",
        "alarm", "pause", "setitimer", "pthread_kill", "siginterrupt",
    },
}  # fmt: skip
POSIX_METHODS = {"send_signal", "terminate"}
POSIX_KEYWORDS = {"preexec_fn", "pass_fds"}
POSIX_MODULES = {"fcntl", "pwd", "grp", "resource", "termios", "tty", "pty", "posix", "syslog"}
GUARD_NAMES = {("sys", "platform"), ("os", "name")}


def is_platform_test(test: ast.expr) -> bool:
    """True when an expression asks which OS this is, or whether a name exists."""
    for node in ast.walk(test):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            asks = (node.value.id, node.attr) in GUARD_NAMES
        else:
            asks = isinstance(node, ast.Call) and ast.unparse(node.func) == "hasattr"
        if asks:
            return True
    return False


def leaves(body: list[ast.stmt]) -> bool:
    """True when a block always ends in return, raise or sys.exit()."""
    if not body:
        return False
    last = body[-1]
    exits = isinstance(last, ast.Expr) and ast.unparse(last.value).startswith("sys.exit(")
    return exits or isinstance(last, ast.Return | ast.Raise)


def posix_only_use(node: ast.AST) -> str | None:
    """What is POSIX-only about this node, or None."""
    attribute = isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
    if attribute and node.attr in POSIX_ATTRIBUTES.get(node.value.id, ()):
        return f"{node.value.id}.{node.attr}"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr in POSIX_METHODS:
            return f".{node.func.attr}()"
        if node.func.attr == "CDLL" and [ast.unparse(a) for a in node.args] == ["None"]:
            return "ctypes.CDLL(None)"
    if isinstance(node, ast.keyword) and node.arg in POSIX_KEYWORDS:
        chosen = isinstance(node.value, ast.IfExp) and is_platform_test(node.value.test)
        return None if chosen else f"{node.arg}="
    if isinstance(node, ast.Import | ast.ImportFrom):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
        for name in names:
            if name and name.split(".")[0] in POSIX_MODULES:
                return f"import {name}"
    return None


def unguarded_uses(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, what) for each POSIX-only use outside a platform guard."""

    def visit(node: ast.AST, guarded: bool) -> Iterator[tuple[int, str]]:
        what = posix_only_use(node)
        if what and not guarded:
            yield getattr(node, "lineno", 0), what
        if isinstance(node, ast.If | ast.IfExp) and is_platform_test(node.test):
            guarded = True
        for value in (value for _, value in ast.iter_fields(node)):
            if isinstance(value, list) and value and all(isinstance(s, ast.stmt) for s in value):
                yield from visit_block(value, guarded)
                continue
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.AST):
                    yield from visit(child, guarded)

    def visit_block(block: list[ast.stmt], guarded: bool) -> Iterator[tuple[int, str]]:
        for statement in block:
            yield from visit(statement, guarded)
            # `if sys.platform == "win32": return ...` guards the rest of the block.
            if isinstance(statement, ast.If) and is_platform_test(statement.test):
                guarded = guarded or leaves(statement.body)

    yield from visit(tree, False)


def notebook_sources() -> dict[str, str]:
    """The code cells of every notebook, IPython lines (magics, shell) left out."""
    sources = {}
    for path in sorted((REPO_ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
        lines = "\n".join(code).splitlines()
        sources[path.name] = "\n".join(line for line in lines if line.lstrip()[:1] not in "%!")
    return sources


def module_file(name: str) -> Path | None:
    """The file of one of our modules, or None (a name from elsewhere, or not a module)."""
    if name.split(".")[0] not in OUR_PACKAGES:
        return None
    base = REPO_ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_names(tree: ast.AST) -> Iterator[str]:
    """Every module name an import in `tree` may load, with its parent packages."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            parts = name.split(".")
            yield from (".".join(parts[:end]) for end in range(1, len(parts) + 1))


def notebook_path_modules() -> dict[str, Path]:
    """Our modules that the notebooks and the programs they start import, directly or not."""
    pending = [*ENTRY_POINTS]
    for source in notebook_sources().values():
        pending += imported_names(ast.parse(source))
    found: dict[str, Path] = {}
    while pending:
        name = pending.pop()
        path = module_file(name)
        if name in found or path is None:
            continue
        found[name] = path
        pending += imported_names(ast.parse(path.read_text(encoding="utf-8")))
    return found


def test_the_scan_reaches_the_server_the_launcher_and_the_set_up():
    found = notebook_path_modules()
    for name in ("helpers.serving.launcher", "helpers.serving.nginx", "tools.bootstrap"):
        assert name in found
    assert "helpers.model_server.process.parent_watch" in found
    assert len(found) > 40


def test_no_module_on_a_notebook_path_uses_a_posix_only_call_unguarded():
    problems = [
        f"{path.relative_to(REPO_ROOT)}:{line}: {what}"
        for path in notebook_path_modules().values()
        for line, what in unguarded_uses(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert problems == []


def test_no_notebook_cell_uses_a_posix_only_call_unguarded():
    problems = [
        f"{name}: {what}"
        for name, source in notebook_sources().items()
        for _, what in unguarded_uses(ast.parse(source))
    ]
    assert problems == []


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import os\nos.getuid()", ["os.getuid"]),
        ("import signal\np.send_signal(signal.SIGQUIT)", [".send_signal()", "signal.SIGQUIT"]),
        ("subprocess.Popen(c, preexec_fn=f)", ["preexec_fn="]),
        ("subprocess.Popen(c, preexec_fn=f if sys.platform == 'linux' else None)", []),
        ("if sys.platform == 'win32':\n    sys.exit(1)\nos.execv(c[0], c)", []),
        ("import fcntl", ["import fcntl"]),
        ("ctypes.CDLL(None).prctl(1, 15)", ["ctypes.CDLL(None)"]),
        ("def f():\n    process.terminate()", [".terminate()"]),
        ("if sys.platform != 'win32':\n    os.getuid()", []),
        ("u = os.getuid() if sys.platform != 'win32' else None", []),
        ("if hasattr(os, 'getuid'):\n    os.getuid()", []),
        ("def f():\n    if sys.platform == 'win32':\n        return 0\n    return os.getuid()", []),
        (
            "def f():\n    if sys.platform == 'win32':\n        pass\n    return os.getuid()",
            ["os.getuid"],
        ),
        ("if os.name == 'posix':\n    import pwd", []),
        ("if x:\n    os.kill(pid, 0)", ["os.kill"]),
    ],
)
def test_the_scan_tells_guarded_from_unguarded_uses(source, found):
    assert [what for _, what in unguarded_uses(ast.parse(source))] == found
