"""Model servers for the tests: a repository written and served by the launcher, always stopped;
or the server's command line run to its end."""

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import openvino as ov

from helpers.paths import REPO_ROOT
from helpers.serving import launcher
from helpers.serving.repository import write_config, write_model_repository


@contextmanager
def serve_repository(
    root: Path,
    models: Mapping[str, ov.Model] | None = None,
    config: Sequence[dict[str, object]] = (),
    *,
    model_name: str | None = None,
    available: Sequence[str] | None = None,
    file_poll_seconds: int | None = None,
    cleaner_seconds: int | None = None,
    debug_log: bool = False,
    extra_args: Sequence[str] = (),
    log_path: Path | None = None,
    grpc_port: int | None = None,
    rest_port: int | None = None,
) -> Iterator[launcher.ServerHandle]:
    """Write `models` (version 1 each) and `config` into `root`, serve it, stop on exit.

    The server reads `<root>/config.json`, or with `model_name` serves that one model, stateful,
    from command-line flags. It is up once the `available` models are (by default every model
    of `config`, or `model_name`). Flags left at None keep the server's defaults.
    """
    for name, model in (models or {}).items():
        write_model_repository(model, root, name)
    if config:
        write_config(root, config)
    if available is None:
        available = [str(entry["name"]) for entry in config] if model_name is None else [model_name]
    if not available:
        raise ValueError("no model to wait for: give `config`, `model_name` or `available`")
    flags = [*extra_args]
    if cleaner_seconds is not None:
        flags += ["--sequence_cleaner_poll_wait_seconds", str(cleaner_seconds)]
    if file_poll_seconds is not None:
        flags += ["--file_system_poll_wait_seconds", str(file_poll_seconds)]
    if debug_log:
        flags += ["--log_level", "DEBUG"]
    if model_name is None:
        args = launcher.model_server_args(root, config=True, extra=flags)
    else:
        args = launcher.model_server_args(root, model_name, stateful=True, extra=flags)
    handle = launcher.start_server(
        root, available, args, log_path=log_path, grpc_port=grpc_port, rest_port=rest_port
    )
    try:
        yield handle
    finally:
        handle.stop()


def importable_env() -> dict[str, str]:
    """This process's environment with the repository on PYTHONPATH, for `python -m/-c`."""
    return dict(os.environ, PYTHONPATH=str(REPO_ROOT))


def run_server_command(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run `python -m helpers.model_server args...` to its end; its output captured as text."""
    command = [sys.executable, "-m", "helpers.model_server", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=importable_env()
    )
