"""Sequence introspection (ours, off by default): `/admin/models/{model}/sequences[/{id}]`.

List a model's live sequences, read one sequence's saved state tensors, or end a sequence.
Answered only with `--sequence_introspection` and only to loopback clients. The model name is
only looked up among the served models, and the id is a decimal number: nothing here names a
file or runs a model.
"""

import ipaddress
import re
import time
from typing import Any

from helpers.model_server.core.manager import ModelManager
from helpers.model_server.core.sequences import Sequence, SequenceManager
from helpers.model_server.protocol.wire import UINT64_MAX, VersionState
from helpers.model_server.rest_api.routing import JsonError

ADMIN_PREFIX = "/admin/"
INTROSPECTION_OFF = "Sequence introspection is off: start the server with --sequence_introspection"
LOOPBACK_ONLY = "Sequence introspection is answered only to loopback clients"
_URL = re.compile(r"^/admin/models/(?P<model>[^/]+)/sequences(?:/(?P<id>[^/]+))?$")
_DECIMAL = re.compile(r"[0-9]{1,20}")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback addresses."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def admin_route(
    manager: ModelManager, method: str, path: str, enabled: bool, client_host: str
) -> dict[str, Any]:
    """Answer one admin request, or raise JsonError with its status."""
    if not enabled:
        raise JsonError(404, INTROSPECTION_OFF)
    if not is_loopback(client_host):
        raise JsonError(403, LOOPBACK_ONLY)
    match = _URL.match(path)
    if match is None:
        raise JsonError(404, f"Unknown admin route: {path}")
    model, text_id = match["model"], match["id"]
    if text_id is None:
        if method != "GET":
            raise JsonError(405, f"{method} is not allowed on {path}")
        return {"model": model, "sequences": list_sequences(manager, model)}
    version, sequence = _find(manager, model, text_id)
    if method == "GET":
        return {
            "model": model,
            "sequence_id": str(sequence.sequence_id),
            "version": version,
            "steps": sequence.steps,
            "states": _states(sequence),
        }
    if method == "DELETE":
        if not _sequence_managers(manager, model)[version].end(sequence.sequence_id):
            raise JsonError(404, _missing(model, text_id))
        return {"model": model, "sequence_id": str(sequence.sequence_id), "ended": True}
    raise JsonError(405, f"{method} is not allowed on {path}")


def list_sequences(manager: ModelManager, model: str) -> list[dict[str, Any]]:
    """Every live sequence of the model's available versions, sorted by id (then version)."""
    now = time.monotonic()
    rows: list[dict[str, Any]] = []
    for version, sequences in _sequence_managers(manager, model).items():
        for sequence in sequences.live():
            state = sequence.state or {}
            rows.append(
                {
                    "sequence_id": str(sequence.sequence_id),
                    "version": version,
                    "steps": sequence.steps,
                    "idle_seconds": round(max(0.0, now - sequence.last_used), 3),
                    "state_bytes": sum(int(array.nbytes) for array in state.values()),
                }
            )
    rows.sort(key=lambda row: (int(row["sequence_id"]), row["version"]))
    return rows


def _sequence_managers(manager: ModelManager, model: str) -> dict[int, SequenceManager]:
    """version -> SequenceManager of the model's available stateful versions, highest first."""
    served = manager.models.get(model)
    if served is None:
        raise JsonError(404, f"Model {model} is not served")
    if not served.stateful:
        raise JsonError(404, f"Model {model} is not stateful: it has no sequences")
    found = {}
    for number in sorted(served.versions, reverse=True):
        entry = served.versions[number]
        servable = entry.servable
        if entry.state == VersionState.AVAILABLE and servable and servable.sequences:
            found[number] = servable.sequences
    return found


def _find(manager: ModelManager, model: str, text_id: str) -> tuple[int, Sequence]:
    """The version and live sequence with this id (the highest version that has it)."""
    managers = _sequence_managers(manager, model)
    if _DECIMAL.fullmatch(text_id) and 0 < int(text_id) <= UINT64_MAX:
        for version, sequences in managers.items():
            sequence = sequences.find(int(text_id))
            if sequence is not None:
                return version, sequence
    raise JsonError(404, _missing(model, text_id))


def _missing(model: str, text_id: str) -> str:
    """The error for an unknown sequence."""
    return f"Sequence {text_id} of model {model} does not exist"


def _states(sequence: Sequence) -> dict[str, Any]:
    """The sequence's saved states as JSON (dtype name, shape, nested values)."""
    return {
        name: {"dtype": array.dtype.name, "shape": list(array.shape), "values": array.tolist()}
        for name, array in (sequence.state or {}).items()
    }
