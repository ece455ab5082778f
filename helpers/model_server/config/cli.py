"""OVMS's command line: the same flag names, defaults, cxxopts parsing rules and validation.

Taught in notebook 09, which calls `parse_args` on the flags the launcher passes.
"""

import os
import re
from dataclasses import dataclass, fields
from typing import Any

from helpers.model_server.protocol.wire import UINT32_MAX

EX_USAGE = 64
_TRUE = re.compile(r"^(t|T)(rue)?$|^1$")
_FALSE = re.compile(r"^(f|F)(alse)?$|^0$")
LOG_LEVELS: tuple[str, ...] = ("TRACE", "DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every flag with its OVMS default (the one table of flags, in `--help` order), and `given`:
    the names set explicitly on the command line."""

    model_name: str = ""
    model_path: str = ""
    config_path: str = ""
    port: int = 0
    rest_port: int = 0
    grpc_bind_address: str = "127.0.0.1"
    rest_bind_address: str = "127.0.0.1"
    grpc_workers: int = 1
    rest_workers: int = 0
    log_level: str = "INFO"
    log_path: str = ""
    file_system_poll_wait_seconds: int = 1
    sequence_cleaner_poll_wait_minutes: int = 5
    sequence_cleaner_poll_wait_seconds: int = 0
    custom_node_resources_cleaner_interval_seconds: int = 300
    stateful: bool = False
    idle_sequence_cleanup: bool = True
    low_latency_transformation: bool = False
    max_sequence_number: int = 500
    nireq: int = 0
    target_device: str = "CPU"
    plugin_config: str = ""
    shape: str = ""
    batch_size: str = ""
    layout: str = ""
    model_version_policy: str = ""
    sequence_snapshot_path: str = ""  # ours: snapshots of live sequences (see core/snapshots.py)
    sequence_snapshot_interval_seconds: int = 0  # ours: 0 = only at SIGTERM
    sequence_introspection: bool = False  # ours: the loopback-only /admin REST routes
    # Ours: stateful KServe v2 inference with Triton's sequence parameters (server-wide, so it
    # goes on the command line in config mode too, like sequence_introspection).
    kserve_sequence_extension: bool = False
    # Ours (an extension): sequence batching, off while max_batch_size is 0.
    sequence_batching_max_batch_size: int = 0
    sequence_batching_max_queue_delay_microseconds: int = 0
    given: frozenset[str] = frozenset()

    @property
    def values(self) -> dict[str, object]:
        """Every flag's value by name."""
        return {name: getattr(self, name) for name in OPTIONS}

    @property
    def cleaner_interval_seconds(self) -> int:
        """Idle-sequence scan interval; the seconds flag (ours) wins when given."""
        if "sequence_cleaner_poll_wait_seconds" in self.given:
            return self.sequence_cleaner_poll_wait_seconds
        return 60 * self.sequence_cleaner_poll_wait_minutes


# The cxxopts kind of each field type: OVMS's integer flags are all uint32.
_KINDS: dict[object, str] = {str: "str", int: "uint32", bool: "bool"}
# name -> (kind, default), read off Settings: every field but `given` is a flag.
OPTIONS: dict[str, tuple[str, object]] = {
    flag.name: (_KINDS[flag.type], flag.default)
    for flag in fields(Settings)
    if flag.name != "given"
}
STATEFUL_FLAGS_NEED_STATEFUL = (
    "Setting low_latency_transformation, max_sequence_number and idle_sequence_cleanup require "
    "setting stateful flag for the model."
)
BOTH_MODES = "Use either config_path or model_path with model_name"
NO_MODE = "Use config_path or model_path with model_name"
CLI_EXCLUSIVE_WITH_CONFIG = "Model parameters in CLI are exclusive with the config file"
PORTS_UNSET = "port and rest_port cannot both be unset"
PORTS_EQUAL = "port and rest_port cannot have the same values"
BAD_LOG_LEVEL = "log_level should be one of: TRACE, DEBUG, INFO, WARNING, ERROR"
INTERVAL_NEEDS_SNAPSHOT_PATH = "sequence_snapshot_interval_seconds requires sequence_snapshot_path"
_MODEL_PARAMETERS = (
    "batch_size",
    "shape",
    "nireq",
    "model_version_policy",
    "target_device",
    "plugin_config",
    "sequence_batching_max_batch_size",
    "sequence_batching_max_queue_delay_microseconds",
)
BATCHING_FLAGS_NEED_STATEFUL = (
    "Sequence batching flags require setting stateful flag for the model."
)


class UsageError(ValueError):
    """The command line is invalid; the message is what OVMS prints before exiting with 64."""


class HelpRequested(Exception):
    """`--help` was given."""


def _convert(kind: str, text: str) -> str | int | bool:
    """Convert one flag value as cxxopts would."""
    if kind == "bool":
        if _TRUE.match(text):
            return True
        if _FALSE.match(text):
            return False
        raise UsageError(f"error parsing options: Argument \u2018{text}\u2019 failed to parse")
    if kind == "uint32":
        if not re.fullmatch(r"\d+", text) or int(text) > UINT32_MAX:
            raise UsageError(f"error parsing options: Argument \u2018{text}\u2019 failed to parse")
        return int(text)
    return text


def parse_args(argv: list[str]) -> Settings:
    """Parse flags with cxxopts rules: a bool never takes the next token, `=` is optional."""
    given: dict[str, Any] = {}  # name -> value, of its field's type (by its kind)
    unmatched: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        i += 1
        if token in ("--help", "-h"):
            raise HelpRequested
        if not token.startswith("--"):
            unmatched.append(token)
            continue
        name, has_value, value = token[2:].partition("=")
        if name not in OPTIONS:
            raise UsageError(f"error parsing options: Option \u2018{name}\u2019 does not exist")
        kind = OPTIONS[name][0]
        if kind == "bool" and not has_value:
            value = "true"
        elif not has_value:
            if i >= len(argv):
                raise UsageError(
                    f"error parsing options: Option \u2018{name}\u2019 is missing an argument"
                )
            value = argv[i]
            i += 1
        given[name] = _convert(kind, value)
    if unmatched:
        raise UsageError(
            "error parsing options - unmatched arguments: " + "".join(f"{u}, " for u in unmatched)
        )
    settings = Settings(**given, given=frozenset(given))
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    """OVMS's Config::validate checks, with its messages."""
    given = settings.given
    if not settings.stateful and given & {
        "low_latency_transformation",
        "max_sequence_number",
        "idle_sequence_cleanup",
    }:
        raise UsageError(STATEFUL_FLAGS_NEED_STATEFUL)
    if not settings.stateful and settings.sequence_batching_max_batch_size:
        raise UsageError(BATCHING_FLAGS_NEED_STATEFUL)
    has_config = bool(settings.config_path)
    if has_config and (settings.model_name or settings.model_path):
        raise UsageError(BOTH_MODES)
    if not has_config and not (settings.model_name and settings.model_path):
        raise UsageError(NO_MODE)
    if has_config and given & set(_MODEL_PARAMETERS):
        raise UsageError(CLI_EXCLUSIVE_WITH_CONFIG)
    if settings.port == 0 and settings.rest_port == 0:
        raise UsageError(PORTS_UNSET)
    if settings.port == settings.rest_port:
        raise UsageError(PORTS_EQUAL)
    cores = os.cpu_count() or 1
    if not 1 <= settings.grpc_workers <= cores:
        raise UsageError(f"grpc_workers count should be from 1 to CPU core count : {cores}")
    if settings.log_level not in LOG_LEVELS:
        raise UsageError(BAD_LOG_LEVEL)
    _validate_snapshot_flags(settings)


def _validate_snapshot_flags(settings: Settings) -> None:
    """Ours: the snapshot folder, when given, is a writable folder (or does not exist yet)."""
    folder = settings.sequence_snapshot_path
    if "sequence_snapshot_interval_seconds" in settings.given and not folder:
        raise UsageError(INTERVAL_NEEDS_SNAPSHOT_PATH)
    if "sequence_snapshot_path" in settings.given and not folder:
        raise UsageError("sequence_snapshot_path must not be empty")
    if not folder or not os.path.lexists(folder):
        return
    if not os.path.isdir(folder):
        raise UsageError(f"sequence_snapshot_path must be a directory: {folder} is not one")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"sequence_snapshot_path {folder} is not writable")


USAGE = (
    """usage: python -m helpers.model_server [OPTION...]

A local model server for OpenVINO models with OVMS 2026.2's flags (TFS and KServe v2, gRPC + REST).
Options (--name=value or --name value; booleans: --flag or --flag=false):
"""
    + "\n".join(
        f"  --{name:<48} {kind:<7} default {default!r}" for name, (kind, default) in OPTIONS.items()
    )
    + (
        "\n\nKServe v2 is served on --port (inference.GRPCInferenceService) and on\n"
        "--rest_port (/v2). Stateful models answer its infer as OVMS does (not implemented)\n"
        "unless --kserve_sequence_extension (ours; server-wide, also with --config_path) is\n"
        "given: then Triton's sequence_id, sequence_start and sequence_end request parameters\n"
        "select the sequence."
    )
)
