"""Build a model version's sequence batcher: twin, compile, a probe batch of two, the batcher.

Part of sequence batching (an extension, not OVMS). Any reason the model cannot be batched
becomes a BatchingError, which fails the load: a version is never served unbatched instead.
"""

import numpy as np
import openvino as ov

from helpers.model_server.config.model_config import ModelConfig
from helpers.model_server.core.batch_runner import BatchRunner, Row
from helpers.model_server.core.batcher import SequenceBatcher
from helpers.model_server.core.twin import TwinError, make_twin


class BatchingError(RuntimeError):
    """The model cannot be served with sequence batching; the message names the reason."""


def load_batcher(
    core: ov.Core,
    model: ov.Model,
    device: str,
    plugin: dict[str, object],
    config: ModelConfig,
) -> SequenceBatcher:
    """The batcher of a prepared stateful model (after LowLatency2 and reshapes)."""
    assert config.sequence_batching is not None
    input_names = [port.get_any_name() for port in model.inputs]
    output_names = [port.get_any_name() for port in model.outputs]
    examples = {
        port.get_any_name(): np.zeros(
            [d.get_length() for d in port.get_partial_shape()],
            np.dtype(port.get_element_type().to_dtype()),
        )
        for port in model.inputs
        if port.get_partial_shape().is_static
    }
    try:
        twin, states = make_twin(model.clone())
    except TwinError as error:
        raise BatchingError(str(error)) from error

    def compile_twin(batch: int | None) -> ov.CompiledModel:
        """The twin with a dynamic batch (None), or compiled for a fixed batch."""
        model = twin
        if batch is not None:
            model = twin.clone()
            model.reshape({port: _with_batch(port, batch) for port in model.inputs})
        return core.compile_model(model, device, plugin)

    try:
        runner = BatchRunner(compile_twin, input_names, output_names, states)
    except RuntimeError as error:
        raise BatchingError(f"the batched model does not compile: {_last_line(error)}") from error
    _probe(runner, examples)
    settings = config.sequence_batching
    return SequenceBatcher(
        runner, settings.max_batch_size, settings.max_queue_delay_microseconds / 1e6
    )


def _with_batch(port: ov.Output, batch: int) -> ov.PartialShape:
    """A twin input's shape with its batch axis (its one dynamic axis) set to `batch`."""
    return ov.PartialShape([batch if d.is_dynamic else d for d in port.get_partial_shape()])


def _probe(runner: BatchRunner, examples: dict[str, np.ndarray]) -> None:
    """Run two START rows together: the twin must run and give each row its own outputs."""
    rows = [Row(dict(examples), None, True) for _ in range(2)]
    runner.run(rows)
    runner.run(rows[:1])
    for row in rows:
        if row.error is not None or row.outputs is None or row.next_state is None:
            raise BatchingError("a batch of two sequences fails to run")
        for name, array in row.outputs.items():
            if array.shape[:1] != (1,):
                raise BatchingError(f"output {name} does not follow the batch axis")


def _last_line(error: Exception) -> str:
    """The last line of an OpenVINO error (the reason; the rest is a stack)."""
    lines = str(error).strip().splitlines()
    return lines[-1] if lines else type(error).__name__
