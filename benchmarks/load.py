"""Many stateful sequences at once over gRPC, every output checked against its own reference.

The load generator of `make soak` (benchmarks/soak.py) and of tests/server/test_server_load.py.

`run_load` starts every sequence, then steps them from many client threads in a random
interleaving (one request at a time per sequence, as OVMS requires), mixes in requests that must
fail in a known way, ends every sequence, and finally checks that all the ids were freed.
Requests go as TFS Predicts, or (`LoadPlan.over_streams`) over one KServe `ModelStreamInfer`
stream per client thread (our server's extension).
"""

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
from tensorflow_serving.apis import prediction_service_pb2_grpc

from benchmarks.kserve_stream import StreamCaller, kserve_step, reply_output
from helpers.models.recurrent import RnnWeights, build_stateful_lstm_cell, random_lstm_weights
from helpers.models.recurrent_reference import lstm_reference
from helpers.models.summator import build_summator
from helpers.serving.client import predict_request, to_ndarray
from helpers.serving.protocol import EXACT_F32, SEQUENCE_ID, Control
from helpers.serving.repository import write_config, write_model_repository

MAX_SAMPLES = 10  # descriptions kept per kind of failure
LIMIT_REACHED = ("UNAVAILABLE", "Max sequence number has been reached")
LOAD_LSTM_WEIGHTS = random_lstm_weights(16, 64, seed=11)


LOAD_BATCHING = {"max_batch_size": 32, "max_queue_delay_microseconds": 0}


def write_load_repository(
    root: Path, limit: int = 500, batching: dict[str, int] | None = None
) -> list[str]:
    """`sum` (the summator) and `lstm` (a stateful LSTM cell, I=16, H=64), `limit` sequences each.

    Idle cleanup is off for both, so a slow client thread never loses a sequence to the cleaner.
    With `batching`, the same two models are served again with sequence batching as `sum_b`
    and `lstm_b`.
    """
    write_model_repository(build_summator(), root, "sum")
    write_model_repository(build_stateful_lstm_cell(LOAD_LSTM_WEIGHTS), root, "lstm")
    common = {"stateful": True, "max_sequence_number": limit, "idle_sequence_cleanup": False}
    models = [
        {"name": "sum", **common},
        {"name": "lstm", **common, "plugin_config": EXACT_F32},
    ]
    if batching is not None:
        models += [
            {**entry, "name": f"{entry['name']}_b", "base_path": entry["name"]}
            | {"sequence_batching": batching}
            for entry in list(models)
        ]
    write_config(root, models)
    return [str(entry["name"]) for entry in models]


@dataclass(frozen=True)
class LoadModel:
    """A served stateful model as the load sees it: names, inputs to draw, expected outputs."""

    name: str
    input_name: str
    output_name: str
    draw_inputs: Callable[[np.random.Generator, int], np.ndarray]  # -> [steps, *input shape]
    expected_outputs: Callable[[np.ndarray], np.ndarray]  # inputs -> [steps, *output shape]
    wrong_shape: tuple[int, ...]  # an input shape the model refuses
    atol: float = 0.0  # 0 means outputs must be exactly equal


def summator_load_model(name: str = "summator") -> LoadModel:
    """The summator fed small integers, so float32 running sums are exact and checked exactly."""
    return LoadModel(
        name=name,
        input_name="x",
        output_name="y",
        draw_inputs=lambda rng, steps: rng.integers(-100, 101, (steps, 1, 1)).astype(np.float32),
        expected_outputs=lambda xs: np.cumsum(xs.astype(np.float64), axis=0),
        wrong_shape=(1, 2),
    )


def lstm_cell_load_model(name: str, weights: RnnWeights, atol: float = 1e-4) -> LoadModel:
    """A stateful LSTM cell (`build_stateful_lstm_cell`) checked against the float64 reference."""
    hidden, size = weights.hidden_size, weights.input_size

    def expected(xs: np.ndarray) -> np.ndarray:
        states, _, _ = lstm_reference(xs.reshape(len(xs), size), weights, *[np.zeros(hidden)] * 2)
        return states.reshape(len(xs), 1, hidden)

    return LoadModel(
        name=name,
        input_name="x",
        output_name="y",
        draw_inputs=lambda rng, steps: rng.standard_normal((steps, 1, size)).astype(np.float32),
        expected_outputs=expected,
        wrong_shape=(1, size + 1),
        atol=atol,
    )


@dataclass(frozen=True)
class LoadPlan:
    """How much load: sequences alive at once, steps each, client threads, seeds and ids."""

    sequences: int = 500
    steps: int = 200
    threads: int = 32
    seed: int = 0
    first_id: int = 1_000_000
    provoke_every: int = 40  # on average one deliberately bad request per this many steps
    limit: int | None = None  # the model's max_sequence_number, when it equals `sequences`
    timeout: float = 60.0
    over_streams: bool = False  # KServe ModelStreamInfer, one stream per thread (ours)


@dataclass
class LoadReport:
    """What happened: counts, failures by kind (with a few samples), timings."""

    model: str
    plan: LoadPlan
    steps_checked: int = 0
    requests: int = 0
    failure_samples: list[str] = field(default_factory=list)  # wrong outputs and errors
    wrong_count: int = 0
    unexpected: Counter = field(default_factory=Counter)
    provoked: Counter = field(default_factory=Counter)
    provoked_wrong: list[str] = field(default_factory=list)
    provoked_wrong_count: int = 0
    limit_refused: bool | None = None
    capacity_restored: bool = False
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def failures(self) -> int:
        """Wrong outputs plus unexpected errors."""
        return self.wrong_count + sum(self.unexpected.values())

    @property
    def ok(self) -> bool:
        """True when nothing was wrong, lost or unexpected."""
        return (
            self.wrong_count == 0
            and not self.unexpected
            and self.provoked_wrong_count == 0
            and self.limit_refused is not False
            and self.capacity_restored
        )

    def summary(self) -> str:
        """A few lines for people: throughput, latency and every failure count."""
        plan = self.plan
        p50, p99 = np.percentile(self.latencies_ms, [50, 99]) if self.latencies_ms else (0, 0)
        limit = {None: "not probed", True: "yes", False: "NO"}[self.limit_refused]
        transport = " over KServe streams" if plan.over_streams else ""
        return (
            f"{self.model}{transport}: {plan.sequences} sequences x {plan.steps} steps from "
            f"{plan.threads} threads: {self.steps_checked:,} steps checked, "
            f"{self.requests:,} requests in {self.seconds:.1f} s "
            f"({self.requests / max(self.seconds, 1e-9):,.0f} requests/s), "
            f"latency p50 {p50:.1f} ms, p99 {p99:.1f} ms\n"
            f"  wrong results {self.wrong_count} | unexpected errors "
            f"{sum(self.unexpected.values())} | provoked errors "
            f"{sum(self.provoked.values()):,} as expected, {self.provoked_wrong_count} not | "
            f"START over the limit refused: {limit} | "
            f"all ids free afterwards: {'yes' if self.capacity_restored else 'NO'}"
        )


# The code of an error reported in a stream reply's `error_message`, which carries no gRPC code:
# a provoked request over a stream is judged by its message alone.
STREAM_ERROR = "STREAM_ERROR"


class _Outcome:
    """One call's result: the output and the echoed sequence id, or the error's code and details."""

    def __init__(
        self,
        output: np.ndarray | None,
        echoed: list[int] | None = None,
        code: str = "OK",
        details: str = "",
    ) -> None:
        self.output = output
        self.echoed = echoed
        self.code = code
        self.details = details


class LoadRun:
    """The state of one `run_load`: inputs, expectations, progress, counters."""

    def __init__(self, channel: grpc.Channel, model: LoadModel, plan: LoadPlan) -> None:
        if plan.steps < 2:
            raise ValueError("a sequence needs at least two steps (START and END)")
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        self.model = model
        self.plan = plan
        self.inputs = [
            model.draw_inputs(np.random.default_rng([plan.seed, i]), plan.steps)
            for i in range(plan.sequences)
        ]
        self.expected = [model.expected_outputs(xs) for xs in self.inputs]
        self.next_step = [0] * plan.sequences
        self.report = LoadReport(model.name, plan)
        self.id_base = plan.first_id
        self._lock = threading.Lock()
        self._unknown_ids = iter(range(plan.first_id + 3 * plan.sequences, 2**63))
        self.channel = channel
        self._stream = threading.local()  # this thread's StreamCaller (over_streams)
        self.streams: list[StreamCaller] = []

    def sequence_id(self, index: int) -> int:
        """The client-chosen id of sequence `index` (clients bring their own ids)."""
        return self.id_base + index

    def call(
        self, inputs: dict[str, np.ndarray], sequence_id: int, control: int | None
    ) -> _Outcome:
        """Send one request (a Predict, or a step on this thread's stream) and time it."""
        began = time.perf_counter()
        if self.plan.over_streams:
            outcome = self._call_on_stream(inputs, sequence_id, control)
        else:
            outcome = self._predict(inputs, sequence_id, control)
        elapsed_ms = (time.perf_counter() - began) * 1000
        with self._lock:
            self.report.requests += 1
            self.report.latencies_ms.append(elapsed_ms)
        return outcome

    def _predict(
        self, inputs: dict[str, np.ndarray], sequence_id: int, control: int | None
    ) -> _Outcome:
        """One TFS Predict."""
        request = predict_request(self.model.name, inputs, sequence_id, control)
        try:
            response = self.stub.Predict(request, self.plan.timeout)
        except grpc.RpcError as error:
            return _Outcome(None, None, error.code().name, error.details() or "")
        output = to_ndarray(response.outputs[self.model.output_name])
        return _Outcome(output, to_ndarray(response.outputs[SEQUENCE_ID]).tolist())

    def _call_on_stream(
        self, inputs: dict[str, np.ndarray], sequence_id: int, control: int | None
    ) -> _Outcome:
        """One step on this thread's ModelStreamInfer stream (opened on first use)."""
        caller = getattr(self._stream, "caller", None)
        if caller is None:
            caller = self._stream.caller = StreamCaller(self.channel, self.plan.timeout * 100)
            with self._lock:
                self.streams.append(caller)
        start, end = control == Control.SEQUENCE_START, control == Control.SEQUENCE_END
        request = kserve_step(self.model.name, inputs, sequence_id, start, end)
        reply = caller.send(request)
        if reply.error_message:
            return _Outcome(None, None, STREAM_ERROR, reply.error_message)
        echoed = reply.infer_response.parameters["sequence_id"].int64_param
        return _Outcome(reply_output(reply, self.model.output_name), [echoed])

    def end_thread_stream(self) -> None:
        """End the calling thread's stream, if it opened one (each holds a server thread)."""
        caller = getattr(self._stream, "caller", None)
        if caller is not None:
            self._stream.caller = None
            with self._lock:
                self.streams.remove(caller)
            caller.close()

    def close_streams(self) -> None:
        """End every stream still open."""
        with self._lock:
            callers, self.streams = self.streams, []
        for caller in callers:
            caller.close()

    def is_missing(self, outcome: _Outcome) -> bool:
        """True when the request failed with `Sequence with provided ID does not exist`."""
        code = "NOT_FOUND" if outcome.code != STREAM_ERROR else STREAM_ERROR
        missing = outcome.details.startswith("Sequence with provided ID does not exist")
        return outcome.code == code and missing

    def step(self, index: int, control: int | None, step: int | None = None) -> bool:
        """Send step `step` (default: the next one) of a sequence and check its output."""
        step = self.next_step[index] if step is None else step
        data = {self.model.input_name: self.inputs[index][step]}
        sequence_id = self.sequence_id(index)
        outcome = self.call(data, sequence_id, control)
        where = f"sequence {sequence_id} step {step}"
        if outcome.output is None:
            self._count_unexpected(outcome, where)
            return False
        output, echoed = outcome.output, outcome.echoed
        wanted = self.expected[index][step]
        if self.model.atol:
            good = output.shape == wanted.shape and np.allclose(output, wanted, 0, self.model.atol)
        else:
            good = output.shape == wanted.shape and np.array_equal(output, wanted)
        good = good and echoed == [sequence_id]
        with self._lock:
            self.report.steps_checked += 1
            if not good:
                self.report.wrong_count += 1
                if len(self.report.failure_samples) < MAX_SAMPLES:
                    self.report.failure_samples.append(
                        f"{where}: got {output.ravel()[:4]} id {echoed}"
                    )
        return good

    def provoke(self, index: int, kind: int) -> None:
        """A request that must fail in a known way, on a sequence this thread holds."""
        data = {self.model.input_name: self.inputs[index][self.next_step[index]]}
        sequence_id = self.sequence_id(index)
        if kind == 0:
            name, wanted = "START on a live id", [("ALREADY_EXISTS", "Sequence with provided ID")]
            if self.plan.limit is not None:
                # The limit is checked before the id (spec 4.3), and every sequence may be live.
                wanted.append(LIMIT_REACHED)
            outcome = self.call(data, sequence_id, Control.SEQUENCE_START)
        elif kind == 1:
            name, wanted = "wrong input shape", [("INVALID_ARGUMENT", "Invalid input shape")]
            wrong = {self.model.input_name: np.zeros(self.model.wrong_shape, np.float32)}
            outcome = self.call(wrong, sequence_id, None)
        else:
            name = "unknown id"
            wanted = [("NOT_FOUND", "Sequence with provided ID does not exist")]
            with self._lock:
                unknown = next(self._unknown_ids)
            outcome = self.call(data, unknown, None)
        self._count_provoked(name, outcome, wanted)

    def probe_limit(self) -> None:
        """With every sequence alive, one more START must be refused by the limit."""
        outcome = self.call(
            {self.model.input_name: self.inputs[0][0]},
            self.plan.first_id + 2 * self.plan.sequences,
            Control.SEQUENCE_START,
        )
        self.report.limit_refused = self._count_provoked(
            "START over the limit", outcome, [LIMIT_REACHED]
        )

    def _count_provoked(self, name: str, outcome: _Outcome, wanted: list[tuple[str, str]]) -> bool:
        """Record a provoked request; True when it failed in one of the expected ways."""
        good = any(
            outcome.code in (code, STREAM_ERROR) and outcome.details.startswith(details)
            for code, details in wanted
        )
        with self._lock:
            if good:
                self.report.provoked[name] += 1
            else:
                self.report.provoked_wrong_count += 1
                if len(self.report.provoked_wrong) < MAX_SAMPLES:
                    self.report.provoked_wrong.append(f"{name}: {outcome.code} {outcome.details}")
        return good

    def _count_unexpected(self, outcome: _Outcome, where: str) -> None:
        """Record an error nobody asked for."""
        with self._lock:
            self.report.unexpected[f"{outcome.code}: {outcome.details}"] += 1
            if len(self.report.failure_samples) < MAX_SAMPLES:
                self.report.failure_samples.append(f"{where}: {outcome.code} {outcome.details}")


def _run_threads(count: int, target: Callable[[int], None], run: LoadRun) -> None:
    """Run `target(thread_number)` on `count` threads and wait for all of them; each thread
    ends its own stream (if any) when done."""

    def thread_main(number: int) -> None:
        try:
            target(number)
        finally:
            run.end_thread_stream()

    threads = [threading.Thread(target=thread_main, args=(n,), daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _for_each(
    indices: list[int], threads: int, action: Callable[[int], None], run: LoadRun
) -> None:
    """Run `action(index)` for every index, taken in order by `threads` threads."""
    pending = list(reversed(indices))
    lock = threading.Lock()

    def worker(_: int) -> None:
        while True:
            with lock:
                if not pending:
                    return
                index = pending.pop()
            action(index)

    _run_threads(threads, worker, run)


def _start_all(run: LoadRun) -> None:
    """START every sequence, in a random order, from all threads."""

    def start(index: int) -> None:
        run.step(index, Control.SEQUENCE_START)
        run.next_step[index] = 1

    order = np.random.default_rng([run.plan.seed, 1]).permutation(run.plan.sequences)
    _for_each([int(i) for i in order], run.plan.threads, start, run)


def _interleave_steps(run: LoadRun) -> None:
    """Step random sequences (never one twice at once) until every sequence has ENDed."""
    plan = run.plan
    ready = list(range(plan.sequences))
    busy = 0
    changed = threading.Condition()

    def worker(thread_number: int) -> None:
        nonlocal busy
        rng = np.random.default_rng([plan.seed, 2, thread_number])
        while True:
            with changed:
                while not ready and busy:
                    changed.wait()
                if not ready:
                    return
                pick = int(rng.integers(len(ready)))
                index = ready[pick]
                ready[pick] = ready[-1]
                ready.pop()
                busy += 1
            try:
                if plan.provoke_every and rng.random() < 1 / plan.provoke_every:
                    run.provoke(index, int(rng.integers(3)))
                last = run.next_step[index] == plan.steps - 1
                run.step(index, Control.SEQUENCE_END if last else None)
                run.next_step[index] += 1
            finally:
                with changed:
                    busy -= 1
                    if run.next_step[index] < plan.steps:
                        ready.append(index)
                    changed.notify_all()

    _run_threads(plan.threads, worker, run)


def _check_ids_freed(run: LoadRun) -> None:
    """Old ids are gone, and as many new sequences as before fit (START and END on each)."""
    plan = run.plan
    old_gone = all(
        run.is_missing(run.call({run.model.input_name: run.inputs[i][0]}, run.sequence_id(i), None))
        for i in range(min(plan.sequences, 20))
    )
    failures_before = run.report.failures
    run.id_base = plan.first_id + plan.sequences

    def start_and_end(index: int) -> None:
        run.step(index, Control.SEQUENCE_START, step=0)
        run.step(index, Control.SEQUENCE_END, step=1)

    _for_each(list(range(plan.sequences)), plan.threads, start_and_end, run)
    run.report.capacity_restored = old_gone and run.report.failures == failures_before


def run_load(channel: grpc.Channel, model: LoadModel, plan: LoadPlan) -> LoadReport:
    """Run the whole load (start all, interleaved steps, end all, ids freed) and report."""
    run = LoadRun(channel, model, plan)
    began = time.perf_counter()
    _start_all(run)
    if plan.limit is not None and plan.limit == plan.sequences:
        run.probe_limit()
    _interleave_steps(run)
    _check_ids_freed(run)
    run.report.seconds = time.perf_counter() - began
    run.close_streams()
    return run.report
