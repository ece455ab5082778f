"""One model's settings (from the CLI or a config.json entry) and OVMS's parse-time rules.

Taught in notebook 09, which checks config.json entries with `model_config_from_entry`.
"""

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.model_server.config.control_inputs import (
    ControlInput,
    ControlInputError,
    parse_control_inputs,
)
from helpers.model_server.protocol.wire import UINT32_MAX

log = logging.getLogger("model_server.config")

DEFAULT_MAX_SEQUENCE_NUMBER = 500
STATEFUL_ONLY_KEYS: tuple[str, ...] = (
    "low_latency_transformation",
    "idle_sequence_cleanup",
    "max_sequence_number",
)
NON_STATEFUL_PARAMETER = "Stateful model config parameter used for non stateful model"
MAX_SEQUENCE_NUMBER_TOO_HIGH = "Sequence max number parameter too high"
DYNAMIC_ON_STATEFUL = "Dynamic shape and dynamic batch size are not supported for stateful models"
PATH_INVALID = "The provided base path is invalid or doesn't exists"
BATCHING_NEEDS_STATEFUL = "Sequence batching requires a stateful model"
BATCHING_INVALID = (
    "sequence_batching needs max_batch_size (an integer >= 1) and optionally "
    "max_queue_delay_microseconds (an integer >= 0)"
)
CONTROL_INPUTS_NEED_STATEFUL = (
    "Sequence control inputs require a stateful model (the model itself may have no state)"
)


class ModelConfigError(ValueError):
    """A model's settings break a rule; the message is OVMS's status message."""


@dataclass(frozen=True)
class VersionPolicy:
    """Which version folders are served: the latest N, a specific list, or all."""

    kind: str = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def select(self, available: list[int]) -> list[int]:
        """The versions to serve out of those found on disk, ascending."""
        found = sorted(available)
        if self.kind == "all":
            return found
        if self.kind == "specific":
            return [v for v in found if v in self.versions]
        return found[-self.num_versions :] if self.num_versions > 0 else []


def parse_version_policy(policy: object) -> VersionPolicy:
    """Parse a `latest` / `specific` / `all` policy given as a dict or a JSON string."""
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except json.JSONDecodeError as error:
            raise ModelConfigError("Model version policy is not a valid JSON object") from error
    if not isinstance(policy, dict) or len(policy) != 1:
        raise ModelConfigError(
            "Model version policy must have exactly one of: latest, specific, all"
        )
    kind, body = next(iter(policy.items()))
    if kind == "all" and isinstance(body, dict):
        return VersionPolicy("all")
    if kind == "latest" and isinstance(body, dict):
        count = body.get("num_versions", 1)
        if isinstance(count, int) and not isinstance(count, bool) and count >= 1:
            return VersionPolicy("latest", count)
    if kind == "specific" and isinstance(body, dict):
        versions = body.get("versions")
        if isinstance(versions, list) and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in versions
        ):
            return VersionPolicy("specific", versions=tuple(versions))
    raise ModelConfigError("Model version policy is not valid")


@dataclass(frozen=True)
class SequenceBatching:
    """Sequence batching (an extension, not OVMS): batch size cap and how long a batch waits."""

    max_batch_size: int
    max_queue_delay_microseconds: int = 0


def parse_sequence_batching(
    value: object,
) -> tuple[SequenceBatching | None, tuple[ControlInput, ...]]:
    """The config.json `sequence_batching` object: batching (None: off) and control inputs.

    `max_batch_size` turns batching on; it may be left out when `control_input` is given.
    """
    if value is None:
        return None, ()
    keys = {"max_batch_size", "max_queue_delay_microseconds", "control_input"}
    if not isinstance(value, dict) or not set(value) <= keys:
        raise ModelConfigError(BATCHING_INVALID)
    controls: tuple[ControlInput, ...] = ()
    if "control_input" in value:
        try:
            controls = parse_control_inputs(value["control_input"])
        except ControlInputError as error:
            raise ModelConfigError(str(error)) from error
        if "max_batch_size" not in value:
            if "max_queue_delay_microseconds" in value:
                raise ModelConfigError(BATCHING_INVALID)
            return None, controls
    if "max_batch_size" not in value:
        raise ModelConfigError(BATCHING_INVALID)
    size, delay = value["max_batch_size"], value.get("max_queue_delay_microseconds", 0)
    if any(not isinstance(v, int) or isinstance(v, bool) for v in (size, delay)):
        raise ModelConfigError(BATCHING_INVALID)
    if size < 1 or delay < 0:
        raise ModelConfigError(BATCHING_INVALID)
    return SequenceBatching(size, delay), controls


@dataclass(frozen=True)
class ModelConfig:
    """Everything that decides how one model is loaded and served; equality means no reload."""

    name: str
    base_path: Path
    batch_size: int | str | None = None
    shape: str | dict[str, str] | None = None
    layout: str | dict[str, str] | None = None
    version_policy: VersionPolicy = field(default_factory=VersionPolicy)
    nireq: int = 0
    target_device: str = "CPU"
    plugin_config: dict[str, Any] = field(default_factory=dict)
    stateful: bool = False
    idle_sequence_cleanup: bool = True
    low_latency_transformation: bool = False
    max_sequence_number: int = DEFAULT_MAX_SEQUENCE_NUMBER
    sequence_batching: SequenceBatching | None = None  # an extension; None = off (OVMS)
    control_inputs: tuple[ControlInput, ...] = ()  # an extension: Triton's control inputs

    def __hash__(self) -> int:
        """Hash by name (the dict fields are not hashable; equality still compares everything)."""
        return hash(self.name)

    @property
    def has_auto_parameter(self) -> bool:
        """True when batch size or any shape asks for `auto` (refused for stateful models)."""
        if isinstance(self.batch_size, str) and self.batch_size.strip() == "auto":
            return True
        if isinstance(self.shape, str):
            return self.shape.strip() == "auto"
        if isinstance(self.shape, dict):
            return any(str(s).strip() == "auto" for s in self.shape.values())
        return False


def check_stateful_keys(name: str, given: dict[str, Any], stateful: bool) -> None:
    """Refuse stateful-only keys on a stateless model and a max_sequence_number above uint32."""
    if not stateful:
        for key, label in zip(
            STATEFUL_ONLY_KEYS,
            ("Low latency transformation", "Idle sequence cleanup", "Max sequence number"),
            strict=True,
        ):
            if key in given:
                log.error("%s parameter was set for non stateful model %s.", label, name)
                raise ModelConfigError(NON_STATEFUL_PARAMETER)
    max_number = given.get("max_sequence_number", DEFAULT_MAX_SEQUENCE_NUMBER)
    if max_number > UINT32_MAX:
        raise ModelConfigError(MAX_SEQUENCE_NUMBER_TOO_HIGH)


def check_base_path(base_path: str) -> None:
    """Refuse a base path with a `..` component, as OVMS's ModelConfig::setBasePath does."""
    if ".." in base_path.split("/"):
        log.error("Path %s escape with .. is forbidden.", base_path)
        raise ModelConfigError(PATH_INVALID)


def model_config_from_entry(entry: dict[str, Any], config_dir: Path) -> ModelConfig:
    """Build a ModelConfig from a schema-valid config.json `config` object."""
    name = entry["name"]
    stateful = bool(entry.get("stateful", False))
    check_stateful_keys(name, entry, stateful)
    check_base_path(entry.get("base_path", name))
    base = Path(entry.get("base_path", name)).expanduser()
    if not base.is_absolute():
        base = config_dir / base
    policy = entry.get("model_version_policy")
    batching, controls = parse_sequence_batching(entry.get("sequence_batching"))
    if batching is not None and not stateful:
        log.error("Sequence batching was set for non stateful model %s.", name)
        raise ModelConfigError(BATCHING_NEEDS_STATEFUL)
    if controls and not stateful:
        log.error("Sequence control inputs were set for non stateful model %s.", name)
        raise ModelConfigError(CONTROL_INPUTS_NEED_STATEFUL)
    return ModelConfig(
        name=name,
        base_path=base,
        batch_size=entry.get("batch_size"),
        shape=entry.get("shape"),
        layout=entry.get("layout"),
        version_policy=parse_version_policy(policy) if policy is not None else VersionPolicy(),
        nireq=entry.get("nireq", 0),
        target_device=entry.get("target_device", "CPU"),
        plugin_config=dict(entry.get("plugin_config", {})),
        stateful=stateful,
        idle_sequence_cleanup=entry.get("idle_sequence_cleanup", True),
        low_latency_transformation=entry.get("low_latency_transformation", False),
        max_sequence_number=entry.get("max_sequence_number", DEFAULT_MAX_SEQUENCE_NUMBER),
        sequence_batching=batching,
        control_inputs=controls,
    )
