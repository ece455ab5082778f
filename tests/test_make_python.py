"""Choosing the interpreter (make, `python -m tools.bootstrap`): 3.11 to 3.13, a folder each."""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from tests.make_runner import REPO_ROOT, make, make_value
from tools import bootstrap as bootstrap_module
from tools.bootstrap import SUPPORTED as BOOTSTRAP_SUPPORTED
from tools.bootstrap import check_commands, dotted, is_installed, venv_folder, venv_python

# Issue #18: Binder's 3.11, Ubuntu 24.04's 3.12, Debian 13's 3.13.
SUPPORTED = ["3.11", "3.12", "3.13"]


def fake_python(folder: Path, name: str, version: str | None) -> Path:
    """A stand-in interpreter that prints `version` (None: fails, as an inactive pyenv shim)."""
    path = folder / name
    answer = f'[ "$1" = -c ] && echo {version} && exit 0' if version else ""
    path.write_text(f'#!/bin/sh\necho "$*" >> "{path}.calls"\n{answer}\nexit 127\n')
    path.chmod(0o755)
    return path


def test_the_makefile_supports_exactly_the_versions_of_the_issue():
    assert make_value("SUPPORTED_PYTHONS").split() == SUPPORTED


def test_pyproject_accepts_the_same_versions_and_lists_them():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    accepted = SpecifierSet(project["requires-python"])
    for minor in range(9, 16):
        assert (f"3.{minor}.0" in accepted) is (f"3.{minor}" in SUPPORTED), f"3.{minor}"
    listed = [c.rsplit(" :: ", 1)[1] for c in project["classifiers"] if re.search(r"3\.\d+$", c)]
    assert listed == SUPPORTED


def test_binder_uses_the_first_supported_version():
    assert f"python={SUPPORTED[0]}" in (REPO_ROOT / "environment.yml").read_text()


def test_the_first_interpreter_that_runs_is_chosen_with_its_own_folder(tmp_path):
    fake_python(tmp_path, "python3.11", None)  # a shim that exists but does not run
    chosen = fake_python(tmp_path, "python3.12", "3.12")
    fake_python(tmp_path, "python3.13", "3.13")
    path = f"{tmp_path}:/usr/bin:/bin"
    assert make_value("PYTHON", path=path) == "python3.12"
    assert make_value("VENV", path=path) == ".venv-3.12"
    assert Path(f"{chosen}.calls").exists()


def test_python_3_11_keeps_the_default_folder(tmp_path):
    fake_python(tmp_path, "python3.11", "3.11")
    assert make_value("VENV", path=f"{tmp_path}:/usr/bin:/bin") == ".venv"


@pytest.mark.parametrize(("version", "says"), [("3.10", "is Python 3.10"), (None, "not a Python")])
def test_an_unsupported_interpreter_stops_before_anything_is_installed(tmp_path, version, says):
    python = fake_python(tmp_path, "python", version)
    venv = tmp_path / "venv"
    result = make(f"{venv}/.installed", f"PYTHON={python}", f"VENV={venv}")
    assert result.returncode != 0
    assert says in result.stderr and "tested on Python 3.11 to 3.13" in result.stderr
    assert "PYTHON=/path/to/python3.X" in result.stderr
    assert not venv.exists()
    calls = Path(f"{python}.calls").read_text().splitlines()
    assert calls and all(call.startswith("-c ") for call in calls)  # never asked to make a venv


def test_no_supported_interpreter_on_path_is_named(tmp_path):
    fake_python(tmp_path, "python3", "3.10")
    result = make("lab", "VENV=" + str(tmp_path / "venv"), path=f"{tmp_path}:/usr/bin/nothing")
    assert result.returncode != 0
    assert "No supported Python found (looked for python3.11 python3.12 python3.13 python3)" in (
        result.stderr
    )


# Issue #29: Python 3.14 (Ubuntu 26.04's and Fedora 43's python3) is refused with its cause and fix.
TOO_NEW_CAUSE = "TensorFlow 2.21 (pinned in requirements.txt) has no wheels for Python 3.14"
TOO_NEW_FIXES = ("pyenv install 3.13", "uv python install 3.13")


def test_make_refuses_python_3_14_naming_the_cause_and_the_fix(tmp_path):
    python = fake_python(tmp_path, "python3.14", "3.14")
    venv = tmp_path / "venv"
    result = make(f"{venv}/.installed", f"PYTHON={python}", f"VENV={venv}")
    assert result.returncode != 0 and not venv.exists()
    assert f"'{python}' is Python 3.14" in result.stderr and TOO_NEW_CAUSE in result.stderr
    assert all(fix in result.stderr for fix in TOO_NEW_FIXES)
    assert "PYTHON=/path/to/python3.X" in result.stderr
    calls = Path(f"{python}.calls").read_text().splitlines()
    assert calls and all(call.startswith("-c ") for call in calls)


def test_make_says_when_the_only_python3_is_3_14(tmp_path):
    fake_python(tmp_path, "python3", "3.14")
    result = make("lab", "VENV=" + str(tmp_path / "venv"), path=f"{tmp_path}:/usr/bin/nothing")
    assert result.returncode != 0
    assert "No supported Python found" in result.stderr
    assert "python3 is Python 3.14" in result.stderr and TOO_NEW_CAUSE in result.stderr


def test_an_older_python_is_not_blamed_on_tensorflow(tmp_path):
    python = fake_python(tmp_path, "python3.10", "3.10")
    result = make(f"{tmp_path}/venv/.installed", f"PYTHON={python}", f"VENV={tmp_path}/venv")
    assert result.returncode != 0 and "is Python 3.10" in result.stderr
    assert "TensorFlow" not in result.stderr


def bootstrap(*arguments: str) -> subprocess.CompletedProcess[str]:
    """The route without make, run from the repository with the standard library only (-S)."""
    command = [sys.executable, "-S", "-m", "tools.bootstrap", *arguments]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)


@pytest.mark.parametrize("command", ["lab", "test", "setup"])
def test_the_python_route_refuses_python_3_14_before_installing_anything(tmp_path, command):
    python = fake_python(tmp_path, "python3.14", "3.14")
    result = bootstrap(command, "--python", str(python))
    assert result.returncode == 1 and result.stdout == ""
    assert f"{python} is Python 3.14" in result.stderr and TOO_NEW_CAUSE in result.stderr
    assert all(fix in result.stderr for fix in TOO_NEW_FIXES)
    assert "--python /path/to/python3.13" in result.stderr
    calls = Path(f"{python}.calls").read_text().splitlines()
    assert calls and all(call.startswith("-c ") for call in calls)  # never asked to make a venv
    assert not (REPO_ROOT / ".venv-3.14").exists()


def test_the_python_route_names_an_interpreter_that_does_not_run(tmp_path):
    python = fake_python(tmp_path, "python3.12", None)
    result = bootstrap("lab", "--python", str(python))
    assert result.returncode == 1 and f"{python} is not a Python that runs" in result.stderr


def test_both_routes_name_the_same_folders(tmp_path):
    assert [dotted(version) for version in BOOTSTRAP_SUPPORTED] == SUPPORTED
    for version in BOOTSTRAP_SUPPORTED:
        python = fake_python(tmp_path, f"python{dotted(version)}", dotted(version))
        folder = make_value("VENV", f"PYTHON={python}")
        assert venv_folder(version) == REPO_ROOT / folder


def test_the_python_route_lints_and_tests_as_make_test_does():
    dry_run = make("-n", "test", f"VENV={sys.prefix}")
    assert dry_run.returncode == 0, dry_run.stderr
    bin_folder = f"{sys.prefix}/bin/"
    ran = dry_run.stdout.splitlines()[-4:]  # after the set-up, should make think it is due
    made = [line.removeprefix(bin_folder).removeprefix("python -m ") for line in ran]
    ours = [" ".join(command[2:]) for command in check_commands(Path("python"), [])]
    assert made == ours


def test_the_python_route_finds_the_interpreter_where_each_os_puts_it(monkeypatch, tmp_path):
    assert venv_python(tmp_path) == tmp_path / "bin" / "python"
    monkeypatch.setattr(sys, "platform", "win32")
    assert venv_python(tmp_path) == tmp_path / "Scripts" / "python.exe"


def test_the_python_route_installs_again_after_the_pins_change(tmp_path, monkeypatch):
    monkeypatch.setattr(bootstrap_module, "REPO_ROOT", tmp_path)
    for name in ("requirements.txt", "pyproject.toml"):
        (tmp_path / name).write_text("")
    venv = tmp_path / ".venv"
    venv.mkdir()
    assert not is_installed(venv)  # never finished
    (venv / ".installed").touch()
    assert is_installed(venv)
    later = (venv / ".installed").stat().st_mtime + 10
    os.utime(tmp_path / "requirements.txt", (later, later))
    assert not is_installed(venv)


def test_the_readme_states_the_python_versions_pyproject_accepts():
    accepted = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert f'`requires-python = "{accepted["requires-python"]}"`' in readme
    assert "You need Python 3.11, 3.12 or 3.13" in readme
