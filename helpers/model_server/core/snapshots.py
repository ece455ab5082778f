"""Sequence snapshots (ours): save every live sequence, restore them at start, save periodically.

`--sequence_snapshot_path DIR` turns them on: the server writes `DIR/sequences.snapshot` at
SIGTERM (after draining) and, with `--sequence_snapshot_interval_seconds S`, every S seconds.
The file name comes from the flag only; nothing in a request ever names a file.
"""

import logging
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from helpers.model_server.core.background import Periodic
from helpers.model_server.core.manager import ModelManager
from helpers.model_server.core.sequences import Sequence
from helpers.model_server.core.servable import Servable
from helpers.model_server.core.snapshot_file import (
    SequenceRecord,
    SnapshotError,
    decode,
    encode,
    write_atomically,
)
from helpers.model_server.protocol.wire import VersionState

log = logging.getLogger("model_server.snapshots")

SNAPSHOT_FILE = "sequences.snapshot"
RESTORED_SUFFIX = ".restored"  # a snapshot already restored, kept for inspection
REJECTED_SUFFIX = ".rejected"  # a snapshot that could not be used, kept for inspection


def collect(manager: ModelManager) -> list[SequenceRecord]:
    """Every live sequence of every available stateful version (sequence.state as saved)."""
    now = time.monotonic()
    records = []
    for model in list(manager.models.values()):
        for entry in list(model.versions.values()):
            servable = entry.servable
            if entry.state != VersionState.AVAILABLE or servable is None:
                continue
            if servable.sequences is None:
                continue
            for sequence in servable.sequences.live():
                state = sequence.state  # replaced, never mutated, by each step: one consistent copy
                if state is None:  # a START whose inference failed: nothing to save
                    continue
                records.append(
                    SequenceRecord(
                        model=model.name,
                        version=entry.version,
                        sequence_id=sequence.sequence_id,
                        steps=sequence.steps,
                        idle_seconds=max(0.0, now - sequence.last_used),
                        idle_marked=sequence.idle,
                        states=dict(state),
                        name=sequence.name,
                    )
                )
    return records


def restore(manager: ModelManager, records: list[SequenceRecord]) -> int:
    """Give each record back to its model version if that version is served again; the count."""
    groups: dict[tuple[str, int], list[SequenceRecord]] = defaultdict(list)
    for record in records:
        groups[(record.model, record.version)].append(record)
    restored = 0
    for (name, version), group in sorted(groups.items()):
        servable = _served_again(manager, name, version)
        if servable is None or servable.sequences is None:
            log.warning(
                "Sequence snapshot: discarded %d sequence(s) of model %s, version: %d: "
                "that version is not served as a stateful model",
                len(group),
                name,
                version,
            )
            continue
        restored += _restore_group(servable, group)
    return restored


def _served_again(manager: ModelManager, name: str, version: int) -> Servable | None:
    """The available servable of (name, version), if any."""
    model = manager.models.get(name)
    entry = model.versions.get(version) if model is not None else None
    if entry is None or entry.state != VersionState.AVAILABLE:
        return None
    return entry.servable


def _variables(servable: Servable) -> dict[str, np.dtype]:
    """The model's variables and their element types (read from one idle infer request)."""
    slot = servable.pool.take()
    try:
        return {state.name: state.state.data.dtype for state in slot.states}
    finally:
        servable.pool.give_back(slot)


def _restore_group(servable: Servable, group: list[SequenceRecord]) -> int:
    """Restore one version's records; those that do not fit are discarded with a log line."""
    assert servable.sequences is not None
    variables = _variables(servable)
    label = f"model {servable.name}, version: {servable.version}"
    now = time.monotonic()
    restored, mismatched, refused = 0, 0, 0
    for record in group:
        found = {name: array.dtype for name, array in record.states.items()}
        if found != variables:
            mismatched += 1
            log.debug("Sequence snapshot: sequence %d does not match %s", record.sequence_id, label)
            continue
        sequence = Sequence(
            record.sequence_id,
            name=record.name,
            state=record.states,
            idle=record.idle_marked,
            steps=record.steps,
            last_used=now - record.idle_seconds,
        )
        if servable.sequences.adopt(sequence):
            restored += 1
        else:
            refused += 1
    if mismatched:
        log.warning(
            "Sequence snapshot: discarded %d sequence(s) of %s: their states do not match the "
            "model's variables",
            mismatched,
            label,
        )
    if refused:
        log.warning(
            "Sequence snapshot: discarded %d sequence(s) of %s: max_sequence_number reached",
            refused,
            label,
        )
    log.info("Sequence snapshot: restored %d sequence(s) of %s", restored, label)
    return restored


class SnapshotStore:
    """The snapshot file in its directory: save (serialized), load and restore."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / SNAPSHOT_FILE
        self._lock = threading.Lock()

    def save(self, manager: ModelManager) -> int:
        """Write every live sequence atomically; the number written."""
        with self._lock:
            started = time.monotonic()
            records = collect(manager)
            write_atomically(self.path, encode(records, time.time()))
        log.debug(
            "Sequence snapshot: wrote %d sequence(s) to %s in %.0f ms",
            len(records),
            self.path,
            (time.monotonic() - started) * 1000,
        )
        return len(records)

    def restore_into(self, manager: ModelManager, keep_file: bool) -> int:
        """Restore the file's sequences (after the models loaded); any failure is logged only.

        Without `keep_file` the file is renamed once restored, so that a later crash cannot
        bring back these (by then stale) states.
        """
        started = time.monotonic()
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            log.info("Sequence snapshot: none at %s; starting with no sequences", self.path)
            return 0
        except OSError as error:
            log.error("Sequence snapshot: could not read %s: %s", self.path, error)
            return 0
        try:
            records = decode(data)
        except SnapshotError as error:
            log.error(
                "Sequence snapshot %s rejected: %s; no sequence restored, file moved to %s",
                self.path,
                error,
                self.path.name + REJECTED_SUFFIX,
            )
            self._move_aside(REJECTED_SUFFIX)
            return 0
        restored = restore(manager, records)
        log.info(
            "Sequence snapshot: restored %d of %d sequence(s) from %s in %.0f ms",
            restored,
            len(records),
            self.path,
            (time.monotonic() - started) * 1000,
        )
        if not keep_file:
            self._move_aside(RESTORED_SUFFIX)
        return restored

    def _move_aside(self, suffix: str) -> None:
        """Rename the snapshot to `<name><suffix>` (replacing an older one)."""
        try:
            self.path.replace(self.path.with_name(self.path.name + suffix))
        except OSError as error:
            log.error("Sequence snapshot: could not rename %s: %s", self.path, error)


class SnapshotWriter(Periodic):
    """Writes a snapshot every `interval` seconds, bounding what a crash (SIGKILL) loses."""

    def __init__(self, store: SnapshotStore, manager: ModelManager, interval: float) -> None:
        super().__init__("sequence-snapshots", interval)
        self.store = store
        self.manager = manager

    def tick(self) -> None:
        """One snapshot."""
        self.store.save(self.manager)
