"""All served models and their versions: load, reload, retire, and find the one a request names.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

import logging
import threading
from dataclasses import dataclass

import openvino as ov

from helpers.model_server.config.model_config import DYNAMIC_ON_STATEFUL, ModelConfig
from helpers.model_server.config.repository import scan_versions
from helpers.model_server.core.loader import LoadError, load_servable
from helpers.model_server.core.sequences import SequenceManager
from helpers.model_server.core.servable import Servable
from helpers.model_server.protocol.status import Code, ServingError
from helpers.model_server.protocol.wire import VersionState

log = logging.getLogger("model_server.manager")

TYPE_CHANGE = "Model type cannot be changed after it is loaded"


@dataclass
class ModelVersion:
    """One version's life-cycle state, load error (if any) and, while available, its Servable."""

    version: int
    state: VersionState = VersionState.START
    error: str = ""
    servable: Servable | None = None


class ServedModel:
    """A model name: its config, its versions, and the stateful flag fixed at first load."""

    def __init__(self, config: ModelConfig) -> None:
        self.name = config.name
        self.config = config
        self.stateful = config.stateful
        self.versions: dict[int, ModelVersion] = {}
        self.default: Servable | None = None

    def refresh_default(self) -> None:
        """Point `default` at the highest AVAILABLE version."""
        available = [v for v in self.versions.values() if v.state == VersionState.AVAILABLE]
        self.default = max(available, key=lambda v: v.version).servable if available else None


class ModelManager:
    """Loads models from configs and resolves (name, version) for requests."""

    def __init__(self, core: ov.Core) -> None:
        self.core = core
        self.models: dict[str, ServedModel] = {}
        self._reload_lock = threading.Lock()

    def resolve(self, name: str, version: int = 0) -> Servable:
        """The servable a request addresses, or the OVMS model/version error."""
        model = self.models.get(name)
        if model is None:
            raise ServingError(Code.MODEL_NAME_MISSING)
        if version == 0:
            servable = model.default
            if servable is None:
                raise ServingError(Code.MODEL_VERSION_MISSING)
            return servable
        entry = model.versions.get(version)
        if entry is None:
            raise ServingError(Code.MODEL_VERSION_MISSING)
        if entry.state in (VersionState.START, VersionState.LOADING):
            raise ServingError(Code.MODEL_VERSION_NOT_LOADED_YET)
        if entry.state != VersionState.AVAILABLE or entry.servable is None:
            raise ServingError(Code.MODEL_VERSION_NOT_LOADED_ANYMORE)
        return entry.servable

    def status(self, name: str, version: int = 0) -> list[ModelVersion]:
        """The version statuses GetModelStatus reports (all versions, or the one asked for)."""
        model = self.models.get(name)
        if model is None:
            raise ServingError(Code.MODEL_NAME_MISSING)
        if version == 0:
            return [model.versions[v] for v in sorted(model.versions)]
        if version not in model.versions:
            raise ServingError(Code.MODEL_VERSION_MISSING)
        return [model.versions[version]]

    def apply(self, configs: list[ModelConfig]) -> None:
        """Make the served set match `configs`: load, reload or retire versions."""
        with self._reload_lock:
            wanted = {config.name: config for config in configs}
            for config in configs:
                self._apply_one(config)
            for name, model in self.models.items():
                if name not in wanted:
                    self._retire(model, list(model.versions))

    def refresh_versions(self) -> None:
        """Re-scan every model's version folders (the file-system poll)."""
        with self._reload_lock:
            for model in self.models.values():
                self._sync_versions(model, model.config, reload_all=False)

    def sequence_managers(self) -> list[SequenceManager]:
        """Sequence managers of available stateful versions registered for idle cleanup."""
        managers = []
        for model in list(self.models.values()):
            if not (model.stateful and model.config.idle_sequence_cleanup):
                continue
            for entry in list(model.versions.values()):
                servable = entry.servable
                if entry.state == VersionState.AVAILABLE and servable and servable.sequences:
                    managers.append(servable.sequences)
        return managers

    def _apply_one(self, config: ModelConfig) -> None:
        """Load a new model, or reload a known one whose config changed."""
        model = self.models.get(config.name)
        if config.stateful and config.has_auto_parameter:
            # OVMS refuses the whole model, not a version: a new one is never listed.
            log.error(
                "Requested setting dynamic parameters for stateful model %s. Dynamic shape and "
                "dynamic batch size not supported for stateful models.",
                config.name,
            )
            log.error("%s", DYNAMIC_ON_STATEFUL)
            return
        if model is None:
            model = ServedModel(config)
            self.models[config.name] = model
            self._sync_versions(model, config, reload_all=False)
            return
        if config.stateful != model.stateful:
            log.error(
                "Requested model type change on model: %s. Stateful flag cannot be changed "
                "after model is loaded",
                config.name,
            )
            log.error("%s", TYPE_CHANGE)
            return
        reload_all = config != model.config
        model.config = config
        self._sync_versions(model, config, reload_all=reload_all)

    def _sync_versions(self, model: ServedModel, config: ModelConfig, reload_all: bool) -> None:
        """Load versions the policy wants that are not served, retire the rest."""
        wanted = config.version_policy.select(scan_versions(config.base_path))
        for number in wanted:
            entry = model.versions.get(number)
            if reload_all or entry is None or entry.state == VersionState.END:
                self._load(model, config, number)
        self._retire(model, [v for v in model.versions if v not in wanted])

    def _load(self, model: ServedModel, config: ModelConfig, number: int) -> None:
        """Load one version; on failure it stays LOADING with the error recorded."""
        entry = model.versions.get(number)
        if entry is None or entry.state == VersionState.END:
            entry = ModelVersion(number, VersionState.LOADING)
            model.versions[number] = entry
            model.refresh_default()
        log.info(
            "Loading model: %s, version: %d, from path: %s", model.name, number, config.base_path
        )
        try:
            servable = load_servable(self.core, config, number)
        except LoadError as error:
            log.error(
                "Error occurred while loading model: %s; version: %d; error: %s",
                model.name,
                number,
                error,
            )
            entry.state, entry.error, entry.servable = VersionState.LOADING, str(error), None
            model.refresh_default()
            return
        entry.servable, entry.state, entry.error = servable, VersionState.AVAILABLE, ""
        model.refresh_default()
        log.info("Model: %s, version: %d is AVAILABLE", model.name, number)
        if config.stateful and config.idle_sequence_cleanup:
            log.debug(
                "Model: %s, version: %d, has been successfully registered in sequence cleaner",
                model.name,
                number,
            )

    def _retire(self, model: ServedModel, numbers: list[int]) -> None:
        """Unload versions; their sequences are dropped with them."""
        for number in numbers:
            entry = model.versions[number]
            if entry.state == VersionState.END:
                continue
            entry.state, entry.servable = VersionState.END, None
            log.info("Model: %s, version: %d retired", model.name, number)
        model.refresh_default()
