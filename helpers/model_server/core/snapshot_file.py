"""The sequence snapshot file: a checksummed JSON header plus raw arrays, written atomically.

Ours (OVMS has no snapshots). Layout of the file:

    MAGIC (8 bytes) | SHA-256 of everything after it (32) | file length (8, big-endian)
    | header length (8) | header (UTF-8 JSON) | the state arrays' raw bytes, one after another

Nothing is ever unpickled: the header is JSON, each array is raw bytes read back with
`numpy.frombuffer` under a dtype from an allow-list (booleans, integers, floats).

Header format 2 adds each sequence's `name` (the string id of a KServe named sequence, or null).
Format 1 files (no names) still restore; a server that reads only format 1 refuses a format 2
file instead of restoring named sequences under ids no client knows.
"""

import hashlib
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from helpers.model_server.protocol.wire import UINT64_MAX

MAGIC = b"OVSEQSN1"
FORMAT = 2  # the format written
READABLE_FORMATS = (1, 2)
_DIGEST = 32
_LENGTH = 8
_PREFIX = len(MAGIC) + _DIGEST + 2 * _LENGTH
_KINDS = "biuf"  # the dtype kinds a state may have: bool, int, uint, float


class SnapshotError(ValueError):
    """A snapshot file that cannot be used; the message says why."""


@dataclass
class SequenceRecord:
    """One sequence as a snapshot holds it."""

    model: str
    version: int
    sequence_id: int
    steps: int
    idle_seconds: float  # since its last successful request, when the snapshot was taken
    idle_marked: bool  # marked by an idle scan since that request (OVMS's two-scan rule)
    states: dict[str, np.ndarray]
    name: str | None = None  # the string id of a KServe named sequence (format 2)


def encode(records: list[SequenceRecord], written_at: float) -> bytes:
    """The whole file for `records`."""
    blobs: list[bytes] = []
    offset = 0
    entries = []
    for record in records:
        states = []
        for name, array in record.states.items():
            data = np.ascontiguousarray(array).tobytes()
            states.append(
                {
                    "name": name,
                    "dtype": array.dtype.str,
                    "shape": list(array.shape),
                    "offset": offset,
                    "nbytes": len(data),
                }
            )
            blobs.append(data)
            offset += len(data)
        entries.append(
            {
                "model": record.model,
                "version": record.version,
                "sequence_id": str(record.sequence_id),
                "name": record.name,
                "steps": record.steps,
                "idle_seconds": record.idle_seconds,
                "idle_marked": record.idle_marked,
                "states": states,
            }
        )
    header = json.dumps({"format": FORMAT, "written_at": written_at, "sequences": entries})
    header_bytes = header.encode("utf-8")
    rest = len(header_bytes).to_bytes(_LENGTH, "big") + header_bytes + b"".join(blobs)
    body = (_PREFIX + len(rest) - _LENGTH).to_bytes(_LENGTH, "big") + rest
    return MAGIC + hashlib.sha256(body).digest() + body


def decode(data: bytes) -> list[SequenceRecord]:
    """The records of a snapshot file; SnapshotError if it is foreign, truncated or corrupt."""
    if not data.startswith(MAGIC):
        raise SnapshotError("not a sequence snapshot (unknown file signature)")
    if len(data) < _PREFIX:
        raise SnapshotError(f"truncated: {len(data)} bytes, shorter than the file's prefix")
    digest = data[len(MAGIC) : len(MAGIC) + _DIGEST]
    body = memoryview(data)[len(MAGIC) + _DIGEST :]
    length = int.from_bytes(body[:_LENGTH], "big")
    if length != len(data):
        state = "truncated" if length > len(data) else "too long"
        raise SnapshotError(f"{state}: {len(data)} bytes, the file says {length}")
    if hashlib.sha256(body).digest() != digest:
        raise SnapshotError("checksum mismatch (the file is corrupt)")
    header_length = int.from_bytes(body[_LENGTH : 2 * _LENGTH], "big")
    if _PREFIX + header_length > len(data):
        raise SnapshotError(f"malformed header: {header_length} bytes do not fit the file")
    try:
        start = 2 * _LENGTH
        header = json.loads(bytes(body[start : start + header_length]).decode("utf-8"))
        blob = body[start + header_length :]
        return _records(header, blob)
    except SnapshotError:
        raise
    except (ValueError, KeyError, TypeError) as error:  # JSON and UTF-8 errors are ValueErrors
        raise SnapshotError(f"malformed header: {error!r}") from error


def _records(header: Any, blob: memoryview) -> list[SequenceRecord]:
    """Check the header field by field and cut the arrays out of `blob`."""
    found = header.get("format") if isinstance(header, dict) else None
    if type(found) is not int or found not in READABLE_FORMATS:
        readable = " and ".join(str(f) for f in READABLE_FORMATS)
        raise SnapshotError(f"unsupported snapshot format {found!r} (this server reads {readable})")
    records = []
    for entry in _typed(header["sequences"], list, "sequences"):
        _typed(entry, dict, "sequence entry")
        sequence_id = int(_typed(entry["sequence_id"], str, "sequence_id"))
        if not 0 < sequence_id <= UINT64_MAX:
            raise SnapshotError(f"sequence id out of range: {sequence_id}")
        idle_seconds = float(_typed(entry["idle_seconds"], (int, float), "idle_seconds"))
        if not math.isfinite(idle_seconds) or idle_seconds < 0:
            raise SnapshotError(f"idle_seconds out of range: {idle_seconds}")
        name = _name(entry["name"]) if found >= 2 else None
        states = {}
        for state in _typed(entry["states"], list, "states"):
            states[_typed(state["name"], str, "state name")] = _array(state, blob)
        records.append(
            SequenceRecord(
                model=_typed(entry["model"], str, "model"),
                version=_typed(entry["version"], int, "version"),
                sequence_id=sequence_id,
                steps=_typed(entry["steps"], int, "steps"),
                idle_seconds=idle_seconds,
                idle_marked=_typed(entry["idle_marked"], bool, "idle_marked"),
                states=states,
                name=name,
            )
        )
    return records


def _name(value: Any) -> str | None:
    """A sequence's string id: null, or a non-empty string (KServe refuses an empty one)."""
    if value is None:
        return None
    if not _typed(value, str, "name"):
        raise SnapshotError("name must not be an empty string")
    return value


def _array(state: dict[str, Any], blob: memoryview) -> np.ndarray:
    """One state array, copied out of the raw bytes after checking dtype, shape and bounds."""
    try:
        dtype = np.dtype(_typed(state["dtype"], str, "dtype"))
    except TypeError as error:
        raise SnapshotError(f"unknown dtype {state['dtype']!r}") from error
    if dtype.kind not in _KINDS or dtype.hasobject:
        raise SnapshotError(f"dtype {dtype.str} is not allowed in a snapshot")
    shape = tuple(_typed(d, int, "dimension") for d in _typed(state["shape"], list, "shape"))
    offset = _typed(state["offset"], int, "offset")
    nbytes = _typed(state["nbytes"], int, "nbytes")
    if any(d < 0 for d in shape) or nbytes != math.prod(shape) * dtype.itemsize:
        raise SnapshotError(f"state {state['name']!r}: {nbytes} bytes do not fit shape {shape}")
    if offset < 0 or offset + nbytes > len(blob):
        raise SnapshotError(f"state {state['name']!r} lies outside the file")
    return np.frombuffer(blob[offset : offset + nbytes], dtype).reshape(shape).copy()


def _typed(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    """`value` if it has the JSON type `kind` (a bool is not an int here), else SnapshotError."""
    is_bool = isinstance(value, bool)
    if not isinstance(value, kind) or (is_bool and bool not in _as_tuple(kind)):
        raise SnapshotError(f"{what} has the wrong type: {type(value).__name__}")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    """`kind` as a tuple of types."""
    return kind if isinstance(kind, tuple) else (kind,)


def write_atomically(path: Path, data: bytes) -> None:
    """Write a temporary file next to `path`, fsync it, rename it over `path`, fsync the folder."""
    temporary = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        # O_BINARY (Windows only): without it the C runtime writes every \n byte as \r\n.
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
        descriptor = os.open(temporary, flags, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if sys.platform == "win32":  # a folder cannot be opened there; NTFS journals the rename
        return
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
