"""The Makefile's choice of interpreter: Python 3.11 to 3.13, one environment folder each."""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from tests.make_runner import REPO_ROOT, make, make_value

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
