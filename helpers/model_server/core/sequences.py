"""Per-model-version sequence bookkeeping: create, look up, terminate, remove, idle scan, ids.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.

Ours, for the KServe sequence extension: a sequence may be named by a string id. The manager
keeps a name -> id map next to its sequences; every path that drops a sequence (END, idle
cleanup, introspection's end) drops its name too, and a reload drops the whole manager.
A snapshot restore (`adopt`) puts a name back with its sequence.
"""

import logging
import threading
import time
from dataclasses import dataclass, field

from helpers.model_server.core.infer_pool import SavedState
from helpers.model_server.protocol.special_inputs import SequenceRequest
from helpers.model_server.protocol.status import Code, ServingError
from helpers.model_server.protocol.wire import UINT64_MAX, Control

log = logging.getLogger("model_server.sequences")

# Named sequences get ids from the upper half of uint64, apart from the ids clients choose
# (KServe's int64_param cannot reach them) and from the TFS generator's (which starts at 1).
NAMED_FIRST_ID = 2**63


@dataclass(frozen=True)
class ExtendedSequenceRequest(SequenceRequest):
    """Ours (KServe sequence extension): a request naming its sequence by string, or a one-shot.

    `name` replaces `sequence_id` when set. `one_shot` (START only) is a sequence of one request:
    it ends when that request is released, and no other request can join it meanwhile.
    """

    name: str | None = None
    one_shot: bool = False


@dataclass(eq=False)
class Sequence:
    """One client sequence: its saved variable states and its flags.

    `lock` serializes the sequence's requests. `claims` counts requests that passed the manager
    step and have not been released; the idle scan never touches a claimed sequence, and the
    manager lock is never held while waiting for `lock`.
    """

    sequence_id: int
    name: str | None = None  # ours: the string id of a KServe named sequence
    one_shot: bool = False  # ours: removed when its only request is released
    lock: threading.Lock = field(default_factory=threading.Lock)
    state: SavedState | None = None
    idle: bool = False
    terminated: bool = False
    removed: bool = False
    claims: int = 0
    steps: int = 0  # successful START / NO_CONTROL requests applied to `state`
    last_used: float = field(default_factory=time.monotonic)  # of the last successful request

    def saved(self, state: SavedState) -> None:
        """Record a successful step's state: the sequence is active again (OVMS's idle rule)."""
        self.state = state
        self.idle = False
        self.steps += 1
        self.last_used = time.monotonic()


class SequenceManager:
    """The sequences of one model version, with OVMS's rules for START, NO_CONTROL and END."""

    def __init__(self, max_sequence_number: int, label: str, first_id: int = 1) -> None:
        self.max_sequence_number = max_sequence_number
        self.label = label
        self._sequences: dict[int, Sequence] = {}
        self._names: dict[str, int] = {}  # ours: named sequences' ids
        self._counter = first_id
        self._named_counter = NAMED_FIRST_ID
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Number of sequences held, terminating ones included."""
        with self._lock:
            return len(self._sequences)

    def claim(self, request: SequenceRequest) -> Sequence:
        """Do the manager step of a request and return its sequence, claimed for this request."""
        sequence: Sequence | None
        name = request.name if isinstance(request, ExtendedSequenceRequest) else None
        with self._lock:
            if request.control == Control.SEQUENCE_START:
                sequence = self._create(request.sequence_id, name)
                if isinstance(request, ExtendedSequenceRequest) and request.one_shot:
                    sequence.one_shot = sequence.terminated = True
            else:
                if name is not None:
                    sequence = self._sequences.get(self._names.get(name, 0))
                else:
                    sequence = self._sequences.get(request.sequence_id)
                if sequence is None or sequence.terminated or sequence.name != name:
                    raise ServingError(Code.SEQUENCE_MISSING)
                if request.control == Control.SEQUENCE_END:
                    sequence.terminated = True
            sequence.claims += 1
            return sequence

    def release(self, sequence: Sequence, remove: bool) -> None:
        """End a request's claim; `remove` drops the sequence and frees its id."""
        with self._lock:
            sequence.claims -= 1
            if remove or sequence.one_shot:
                sequence.removed = True
                if self._sequences.get(sequence.sequence_id) is sequence:
                    self._drop(sequence)

    def remove_idle(self) -> list[int]:
        """One cleaner scan: drop sequences marked idle by the previous scan, mark the rest."""
        removed: list[int] = []
        with self._lock:
            for sequence_id, sequence in list(self._sequences.items()):
                if sequence.terminated or sequence.claims > 0:
                    continue
                if sequence.idle:
                    sequence.removed = True
                    self._drop(sequence)
                    removed.append(sequence_id)
                else:
                    sequence.idle = True
        for sequence_id in removed:
            log.debug(
                "[Idle sequence cleanup] Removing sequence with id: %d on model %s",
                sequence_id,
                self.label,
            )
        return removed

    def live(self) -> list[Sequence]:
        """The sequences that are neither ending nor removed, by id."""
        with self._lock:
            return sorted(
                (s for s in self._sequences.values() if not s.terminated),
                key=lambda s: s.sequence_id,
            )

    def find(self, sequence_id: int) -> Sequence | None:
        """The live sequence with this id, if any."""
        with self._lock:
            sequence = self._sequences.get(sequence_id)
            return None if sequence is None or sequence.terminated else sequence

    def adopt(self, sequence: Sequence) -> bool:
        """Add a restored sequence and its name; False if either is taken or the limit is hit."""
        with self._lock:
            taken = sequence.sequence_id in self._sequences or sequence.sequence_id == 0
            taken = taken or (sequence.name is not None and sequence.name in self._names)
            if taken or len(self._sequences) >= self.max_sequence_number:
                return False
            self._sequences[sequence.sequence_id] = sequence
            if sequence.name is not None:
                self._names[sequence.name] = sequence.sequence_id
            return True

    def end(self, sequence_id: int) -> bool:
        """End a live sequence from outside a request (introspection); False if there is none.

        A request already inside the sequence finishes; later ones get SEQUENCE_MISSING.
        """
        with self._lock:
            sequence = self._sequences.get(sequence_id)
            if sequence is None or sequence.terminated:
                return False
            sequence.removed = True
            self._drop(sequence)
            return True

    def named_ids(self) -> dict[str, int]:
        """Ours: a copy of the string id -> sequence id map of the named sequences."""
        with self._lock:
            return dict(self._names)

    def _drop(self, sequence: Sequence) -> None:
        """Remove a held sequence and its name; the caller holds the manager lock."""
        del self._sequences[sequence.sequence_id]
        if sequence.name is not None and self._names.get(sequence.name) == sequence.sequence_id:
            del self._names[sequence.name]

    def _create(self, requested_id: int, name: str | None = None) -> Sequence:
        """Create a sequence for START (named: a fresh id); the caller holds the manager lock."""
        if len(self._sequences) >= self.max_sequence_number:
            raise ServingError(Code.MAX_SEQUENCE_NUMBER_REACHED)
        if name is not None:
            named = self._names.get(name)
            existing = self._sequences.get(named) if named is not None else None
            sequence_id = self._unique_named_id() if existing is None else 0
        else:
            sequence_id = requested_id or self._unique_id()
            existing = self._sequences.get(sequence_id)
        if existing is not None:
            code = Code.SEQUENCE_TERMINATED if existing.terminated else Code.SEQUENCE_ALREADY_EXISTS
            raise ServingError(code)
        sequence = Sequence(sequence_id, name=name)
        self._sequences[sequence_id] = sequence
        if name is not None:
            self._names[name] = sequence_id
        return sequence

    def _unique_named_id(self) -> int:
        """The next free id of the named range (the upper half of uint64)."""
        while self._named_counter in self._sequences:
            self._named_counter += 1
            if self._named_counter > UINT64_MAX:
                self._named_counter = NAMED_FIRST_ID
        return self._named_counter

    def _unique_id(self) -> int:
        """OVMS's generator: the counter's value if free, else the next free one (never 0)."""
        while self._counter == 0 or self._counter in self._sequences:
            self._counter = (self._counter + 1) & UINT64_MAX
        return self._counter
