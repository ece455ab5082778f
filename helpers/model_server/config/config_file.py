"""Read config.json: schema check (as OVMS's MODEL_CONFIG_DEFINITION), then each model entry.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helpers.model_server.config.model_config import (
    ModelConfig,
    ModelConfigError,
    model_config_from_entry,
)

log = logging.getLogger("model_server.config")

NOT_VALID_JSON = "The file is not valid json"
NOT_VALID_SCHEMA = "JSON schema parse error"


class ConfigFileError(ValueError):
    """The whole configuration file is rejected."""


def _is_int(value: object, minimum: int | None = None) -> bool:
    """A JSON integer (not a bool), optionally with a lower bound."""
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    return minimum is None or value >= minimum


def _is_str_or_str_map(value: object) -> bool:
    """A string, or an object whose values are all strings."""
    if isinstance(value, str):
        return True
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def _is_plugin_config(value: object) -> bool:
    """An object with string, bool or number values."""
    return isinstance(value, dict) and all(
        isinstance(v, str | bool | int | float) for v in value.values()
    )


_KEY_CHECKS: dict[str, Callable[[object], bool]] = {
    "name": lambda v: isinstance(v, str),
    "base_path": lambda v: isinstance(v, str),
    "batch_size": lambda v: _is_int(v, 0) or isinstance(v, str),
    "shape": _is_str_or_str_map,
    "layout": _is_str_or_str_map,
    "model_version_policy": lambda v: isinstance(v, dict),
    "nireq": lambda v: _is_int(v, 0),
    "target_device": lambda v: isinstance(v, str),
    "allow_cache": lambda v: isinstance(v, bool),
    "plugin_config": _is_plugin_config,
    "stateful": lambda v: isinstance(v, bool),
    "idle_sequence_cleanup": lambda v: isinstance(v, bool),
    "low_latency_transformation": lambda v: isinstance(v, bool),
    "max_sequence_number": lambda v: _is_int(v, 0),
    "graph_path": lambda v: isinstance(v, str),
    "subconfig": lambda v: isinstance(v, str),
    "custom_loader_options": lambda v: isinstance(v, dict),
    "sequence_batching": lambda v: isinstance(v, dict),  # an extension; checked per model
}
_TOP_LEVEL_KEYS = frozenset(
    {"model_config_list", "pipeline_config_list", "custom_loader_config_list", "monitoring"}
)


def _check_schema(document: object) -> list[dict[str, Any]]:
    """Return the `config` objects, or raise if the document breaks the schema."""
    if not isinstance(document, dict) or not set(document) <= _TOP_LEVEL_KEYS:
        raise ConfigFileError(NOT_VALID_SCHEMA)
    entries = document.get("model_config_list", [])
    if not isinstance(entries, list):
        raise ConfigFileError(NOT_VALID_SCHEMA)
    configs = []
    for item in entries:
        if not isinstance(item, dict) or set(item) != {"config"}:
            raise ConfigFileError(NOT_VALID_SCHEMA)
        config = item["config"]
        if not isinstance(config, dict) or "name" not in config:
            raise ConfigFileError(NOT_VALID_SCHEMA)
        for key, value in config.items():
            check = _KEY_CHECKS.get(key)
            if check is None or not check(value):
                log.error("Configuration file: invalid key or type: %s", key)
                raise ConfigFileError(NOT_VALID_SCHEMA)
        configs.append(config)
    return configs


def parse_config_text(text: str, config_dir: Path) -> list[ModelConfig]:
    """Parse config.json text; bad models are logged and skipped, a bad file raises."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigFileError(NOT_VALID_JSON) from error
    models: list[ModelConfig] = []
    for entry in _check_schema(document):
        try:
            models.append(model_config_from_entry(entry, config_dir))
        except ModelConfigError as error:
            log.error("Parsing model: %s config failed due to error: %s", entry["name"], error)
    return models
