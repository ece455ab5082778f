"""Silero VAD made stateful: MakeStateful on its state pair, then the audio context as a Variable.

Notebook 06 teaches both functions in its own cells; this copy is the one tests/test_vad*.py and
benchmarks/vad_bench.py import, and tests/test_vad_notebook_code.py keeps the two equal.
"""

import numpy as np
import openvino as ov
import openvino.opset13 as ops
from openvino import passes


def make_state_variable(model: ov.Model) -> ov.Model:
    """A copy of the Silero model with its `state` -> `stateN` pair turned into a Variable."""
    stateful = model.clone()
    manager = passes.Manager()
    manager.register_pass(passes.MakeStateful({"state": "stateN"}))
    manager.run_passes(stateful)
    return stateful


def add_audio_context(model: ov.Model, context: int = 64, chunk: int = 512) -> ov.Model:
    """A copy of `model` that reads `chunk` new samples and keeps the last `context` inside."""
    result = model.clone()
    old_input = result.input("input").get_node()
    new_chunk = ops.parameter([1, chunk], np.float32, name="chunk")
    new_chunk.output(0).set_names({"chunk"})
    info = ov.op.util.VariableInfo()
    info.data_shape = ov.PartialShape([1, context])
    info.data_type = ov.Type.f32
    info.variable_id = "context"
    variable = ov.op.util.Variable(info)
    previous = ops.read_value(ops.constant(np.zeros((1, context), np.float32)), variable)
    joined = ops.concat([previous, new_chunk], axis=1)  # [1, context + chunk], as the model expects
    tail = ops.slice(
        new_chunk, np.array([chunk - context]), np.array([chunk]), np.array([1]), np.array([1])
    )
    old_input.output(0).replace(joined.output(0))
    result.remove_parameter(old_input)
    result.add_parameters([new_chunk])
    result.add_sinks([ops.assign(tail, variable)])
    result.validate_nodes_and_infer_types()
    return result
