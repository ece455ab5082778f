"""Sequence batching (an extension, not OVMS): steps of different sequences waiting at the same
time run as one inference of the model version's stateless twin.

No batcher thread: the request thread that finds no batch running leads. It takes up to
`max_batch_size` waiting steps (in arrival order, those whose inputs have the first one's shapes),
waiting up to `max_queue_delay` for more when the batch is not full, runs them, and repeats until
its own step is done; then it hands the lead to the oldest waiting step's thread, if any. One
client therefore runs its step on its own thread, with no hand-off. Each request thread keeps
holding its sequence's lock while its step waits, so a sequence's steps never overlap or reorder.
"""

import logging
import threading
import time
from collections import deque

import numpy as np

from helpers.model_server.core.batch_runner import BatchRunner, Outputs, Row
from helpers.model_server.core.sequences import Sequence
from helpers.model_server.protocol.status import Code, ServingError
from helpers.model_server.protocol.wire import Control

log = logging.getLogger("model_server.batching")


class _Step(Row):
    """A waiting step: its row, its sequence, and the signal that wakes its thread."""

    def __init__(self, sequence: Sequence, arrays: dict[str, np.ndarray], control: Control) -> None:
        super().__init__(arrays, sequence.state, control == Control.SEQUENCE_START)
        self.sequence = sequence
        self.control = control
        self.key = tuple(array.shape for array in arrays.values())
        # A bare lock taken now and released to wake the waiting thread: cheaper than an Event
        # (no Condition), and a batch wakes dozens of threads.
        self._signal = threading.Lock()
        self._signal.acquire()
        self.done = False  # results are in; otherwise a wake means "lead now"

    def wait(self) -> None:
        """Block until `wake` is called."""
        self._signal.acquire()

    def wake(self) -> None:
        """Let the step's thread out of `wait` (to lead, or with its results in)."""
        self._signal.release()


class SequenceBatcher:
    """Batches the steps of one stateful model version's sequences."""

    def __init__(self, runner: BatchRunner, max_batch_size: int, max_queue_delay: float) -> None:
        self.runner = runner
        self.max_batch_size = max(1, max_batch_size)
        self.max_queue_delay = max_queue_delay
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._pending: deque[_Step] = deque()
        self._leading = False
        self._delaying = False  # the leader is waiting out max_queue_delay for a fuller batch

    def step(self, sequence: Sequence, arrays: dict[str, np.ndarray], control: Control) -> Outputs:
        """Run one step of `sequence` (whose lock the caller holds); save or drop its state."""
        step = _Step(sequence, arrays, control)
        if not step.start and not self._state_fits(step.state):
            log.error("Could not restore the state of sequence %d", sequence.sequence_id)
            raise ServingError(Code.INTERNAL_ERROR)
        with self._lock:
            self._pending.append(step)
            lead = not self._leading
            self._leading = True
            if self._delaying:
                self._arrived.notify()
        if not lead:
            step.wait()
        if not step.done:
            self._lead(step)
        if step.error is not None:
            raise step.error
        assert step.outputs is not None
        return step.outputs

    def _state_fits(self, state: dict[str, np.ndarray] | None) -> bool:
        """True when a saved state has every variable of the twin, in its shape."""
        if state is None:
            return not self.runner.states
        return all(
            spec.name in state and state[spec.name].shape == spec.shape
            for spec in self.runner.states
        )

    def _lead(self, own: _Step) -> None:
        """Run batches until `own` is done, then pass the lead on (or give it up)."""
        try:
            while not own.done:
                self._finish(self._take())
        except Exception:  # never leave the lead taken: every later step would wait for ever
            log.exception("Unexpected error while leading a batch")
            own.error = own.error or ServingError(Code.INTERNAL_ERROR)
        with self._lock:
            if self._pending:
                self._pending[0].wake()  # not done: its thread leads next
            else:
                self._leading = False

    def _take(self) -> list[_Step]:
        """The next batch: waiting steps with the first one's input shapes, in arrival order."""
        with self._lock:
            if self.max_queue_delay > 0 and len(self._pending) < self.max_batch_size:
                deadline = time.monotonic() + self.max_queue_delay
                self._delaying = True
                while len(self._pending) < self.max_batch_size:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._arrived.wait(left)
                self._delaying = False
            key = self._pending[0].key
            batch: list[_Step] = []
            kept: deque[_Step] = deque()
            while self._pending:
                step = self._pending.popleft()
                if len(batch) < self.max_batch_size and step.key == key:
                    batch.append(step)
                else:
                    kept.append(step)
            self._pending = kept
            return batch

    def _finish(self, batch: list[_Step]) -> None:
        """Run a batch, save or drop each sequence's state, and wake each step's thread."""
        if len(batch) > 1 and log.isEnabledFor(logging.DEBUG):
            log.debug("Running a batch of %d sequence steps", len(batch))
        try:
            self.runner.run(list(batch))
        except Exception:
            log.exception("Unexpected error in a batched step")
            for step in batch:
                if step.outputs is None and step.error is None:
                    step.error = ServingError(Code.INTERNAL_ERROR)
        for step in batch:
            if (
                step.error is None
                and step.control != Control.SEQUENCE_END
                and step.next_state is not None
            ):
                step.sequence.saved(step.next_state)
            step.done = True
            step.wake()
