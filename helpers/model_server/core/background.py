"""The two background threads: file-system/config polling and the idle-sequence cleaner.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

import logging
import threading
from pathlib import Path

from helpers.model_server.config.config_file import ConfigFileError, parse_config_text
from helpers.model_server.core.manager import ModelManager
from helpers.model_server.process.heap import trim_heap

log = logging.getLogger("model_server.background")


class Periodic(threading.Thread):
    """Run `tick` every `interval` seconds until stopped (first run one interval after start)."""

    def __init__(self, name: str, interval: float) -> None:
        super().__init__(name=name, daemon=True)
        self.interval = interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        """Loop until stop(); an exception in one tick is logged, never fatal."""
        while not self._stop_event.wait(self.interval):
            try:
                self.tick()
            except Exception:
                log.exception("%s failed", self.name)

    def tick(self) -> None:
        """One round of work."""
        raise NotImplementedError

    def stop(self) -> None:
        """Ask the loop to end."""
        self._stop_event.set()


class SequenceCleaner(Periodic):
    """OVMS's sequence cleaner: one idle scan of every registered manager, then malloc_trim."""

    def __init__(self, manager: ModelManager, interval: float) -> None:
        super().__init__("sequence-cleaner", interval)
        self.manager = manager

    def tick(self) -> None:
        """Scan once, then hand the memory of removed sequences back to the OS."""
        for sequences in self.manager.sequence_managers():
            sequences.remove_idle()
        trim_heap()


class RepositoryPoller(Periodic):
    """Watch config.json (reload on change) and the version folders (load/retire versions)."""

    def __init__(
        self, manager: ModelManager, interval: float, config_path: Path | None, loaded_text: str
    ) -> None:
        super().__init__("repository-poller", interval)
        self.manager = manager
        self.config_path = config_path
        self.last_text = loaded_text  # the text load_models used: a change since then reloads

    def tick(self) -> None:
        """Reload the config if its text changed, else re-scan the version folders."""
        if self.config_path is not None:
            try:
                text = self.config_path.read_text(encoding="utf-8")
            except OSError as error:
                log.error("Could not read the configuration file: %s", error)
                return
            if text != self.last_text:
                self.last_text = text
                try:
                    configs = parse_config_text(text, self.config_path.parent)
                except ConfigFileError as error:
                    log.error("Configuration file is invalid, keeping the old one: %s", error)
                    return
                log.info("Configuration file changed, reloading")
                self.manager.apply(configs)
                return
        self.manager.refresh_versions()
