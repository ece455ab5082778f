"""OVMS's command line: the same flag names, defaults, cxxopts parsing rules and validation."""

import os
import re
from dataclasses import dataclass, field

from helpers.serving.protocol import UINT32_MAX

EX_USAGE = 64
_TRUE = re.compile(r"^(t|T)(rue)?$|^1$")
_FALSE = re.compile(r"^(f|F)(alse)?$|^0$")
LOG_LEVELS: tuple[str, ...] = ("TRACE", "DEBUG", "INFO", "WARNING", "ERROR")

# name -> (kind, default); kinds: str, uint32, bool.
OPTIONS: dict[str, tuple[str, object]] = {
    "model_name": ("str", ""),
    "model_path": ("str", ""),
    "config_path": ("str", ""),
    "port": ("uint32", 0),
    "rest_port": ("uint32", 0),
    "grpc_bind_address": ("str", "127.0.0.1"),
    "rest_bind_address": ("str", "127.0.0.1"),
    "grpc_workers": ("uint32", 1),
    "rest_workers": ("uint32", 0),
    "log_level": ("str", "INFO"),
    "log_path": ("str", ""),
    "file_system_poll_wait_seconds": ("uint32", 1),
    "sequence_cleaner_poll_wait_minutes": ("uint32", 5),
    "sequence_cleaner_poll_wait_seconds": ("uint32", 0),
    "custom_node_resources_cleaner_interval_seconds": ("uint32", 300),
    "stateful": ("bool", False),
    "idle_sequence_cleanup": ("bool", True),
    "low_latency_transformation": ("bool", False),
    "max_sequence_number": ("uint32", 500),
    "nireq": ("uint32", 0),
    "target_device": ("str", "CPU"),
    "plugin_config": ("str", ""),
    "shape": ("str", ""),
    "batch_size": ("str", ""),
    "layout": ("str", ""),
    "model_version_policy": ("str", ""),
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
_MODEL_PARAMETERS = (
    "batch_size",
    "shape",
    "nireq",
    "model_version_policy",
    "target_device",
    "plugin_config",
)


class UsageError(ValueError):
    """The command line is invalid; the message is what OVMS prints before exiting with 64."""


class HelpRequested(Exception):
    """`--help` was given."""


@dataclass
class Settings:
    """Parsed flags; `given` holds the names set explicitly on the command line."""

    values: dict[str, object]
    given: set[str] = field(default_factory=set)

    def __getattr__(self, name: str) -> object:
        """Flag values as attributes."""
        try:
            return self.values[name]
        except KeyError as error:
            raise AttributeError(name) from error

    @property
    def cleaner_interval_seconds(self) -> int:
        """Idle-sequence scan interval; the seconds flag (ours) wins when given."""
        if "sequence_cleaner_poll_wait_seconds" in self.given:
            return int(self.values["sequence_cleaner_poll_wait_seconds"])  # type: ignore[call-overload]
        return 60 * int(self.values["sequence_cleaner_poll_wait_minutes"])  # type: ignore[call-overload]


def _convert(name: str, kind: str, text: str) -> object:
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
    values = {name: default for name, (_, default) in OPTIONS.items()}
    given: set[str] = set()
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
        values[name] = _convert(name, kind, value)
        given.add(name)
    if unmatched:
        raise UsageError(
            "error parsing options - unmatched arguments: " + "".join(f"{u}, " for u in unmatched)
        )
    settings = Settings(values, given)
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    """OVMS's Config::validate checks, with its messages."""
    given, values = settings.given, settings.values
    if not values["stateful"] and given & {
        "low_latency_transformation",
        "max_sequence_number",
        "idle_sequence_cleanup",
    }:
        raise UsageError(STATEFUL_FLAGS_NEED_STATEFUL)
    has_config = bool(values["config_path"])
    if has_config and (values["model_name"] or values["model_path"]):
        raise UsageError(BOTH_MODES)
    if not has_config and not (values["model_name"] and values["model_path"]):
        raise UsageError(NO_MODE)
    if has_config and given & set(_MODEL_PARAMETERS):
        raise UsageError(CLI_EXCLUSIVE_WITH_CONFIG)
    if values["port"] == 0 and values["rest_port"] == 0:
        raise UsageError(PORTS_UNSET)
    if values["port"] == values["rest_port"]:
        raise UsageError(PORTS_EQUAL)
    cores = os.cpu_count() or 1
    if not 1 <= int(values["grpc_workers"]) <= cores:  # type: ignore[call-overload]
        raise UsageError(f"grpc_workers count should be from 1 to CPU core count : {cores}")
    if values["log_level"] not in LOG_LEVELS:
        raise UsageError(BAD_LOG_LEVEL)


USAGE = """usage: python -m helpers.model_server [OPTION...]

A local model server for OpenVINO models with OVMS 2026.2's flags (TFS gRPC + REST API).
Options (--name=value or --name value; booleans: --flag or --flag=false):
""" + "\n".join(
    f"  --{name:<48} {kind:<7} default {default!r}" for name, (kind, default) in OPTIONS.items()
)
