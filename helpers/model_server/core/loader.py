"""Turn one version folder into a Servable: read, LowLatency2, reshape, compile, make the pool.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

import json
import logging
import re

import numpy as np
import openvino as ov
from openvino import passes

from helpers.model_server.config.model_config import DYNAMIC_ON_STATEFUL, ModelConfig
from helpers.model_server.config.repository import find_model_file
from helpers.model_server.core.batching_loader import BatchingError, load_batcher
from helpers.model_server.core.control_filler import ControlFiller, ControlInputMismatch
from helpers.model_server.core.infer_pool import InferPool, InferSlot
from helpers.model_server.core.sequences import SequenceManager
from helpers.model_server.core.servable import Servable
from helpers.model_server.protocol.dtypes import BY_NUMPY
from helpers.model_server.protocol.signature import DYNAMIC, TensorSpec

log = logging.getLogger("model_server.loader")

MAX_NIREQ = 100_000
_SHAPE_TEXT = re.compile(r"^\s*[\(\[]\s*(-?\d+\s*(,\s*-?\d+\s*)*)?[\)\]]\s*$")


class LoadError(RuntimeError):
    """A model version could not be loaded; the message says why."""


def _parse_shape(text: str) -> list[int]:
    """Parse `(1,3,224,224)` (or with brackets) into a list of ints."""
    if not _SHAPE_TEXT.match(text):
        raise LoadError(f"Invalid shape parameter: {text}")
    inner = text.strip()[1:-1].strip()
    return [int(d) for d in inner.split(",")] if inner else []


def _requested_shapes(model: ov.Model, config: ModelConfig) -> dict[str, list[int]]:
    """The static shapes `shape` / `batch_size` ask for, per input name."""
    names = [port.get_any_name() for port in model.inputs]
    shape = config.shape
    if isinstance(shape, str) and shape.strip().startswith("{"):
        try:
            shape = json.loads(shape)
        except json.JSONDecodeError as error:
            raise LoadError(f"Invalid shape parameter: {shape}") from error
    if isinstance(shape, dict):
        unknown = set(shape) - set(names)
        if unknown:
            raise LoadError(f"Shape given for an unknown input: {sorted(unknown)[0]}")
        return {name: _parse_shape(str(text)) for name, text in shape.items()}
    if isinstance(shape, str):
        if len(names) != 1:
            raise LoadError("A shape without input names needs a model with exactly one input")
        return {names[0]: _parse_shape(shape)}
    if config.batch_size is not None and str(config.batch_size).strip() != "auto":
        batch = int(config.batch_size)
        requested = {}
        for port in model.inputs:
            dims = list(port.get_partial_shape())
            if dims:
                requested[port.get_any_name()] = [batch] + [
                    d.get_length() if d.is_static else DYNAMIC for d in dims[1:]
                ]
        return requested
    return {}


def _name_unnamed_ports(model: ov.Model) -> None:
    """Give every input and output a tensor name (its node's name) so requests can use it."""
    for port in [*model.inputs, *model.outputs]:
        if not port.get_names():
            node = port.get_node()
            source = node.input_value(0).get_node() if node.get_type_name() == "Result" else node
            port.get_tensor().set_names({source.get_friendly_name()})


def _apply_low_latency(model: ov.Model, config: ModelConfig, version: int) -> None:
    """Run OpenVINO's LowLatency2 pass, as OVMS does before compiling."""
    try:
        manager = passes.Manager()
        manager.register_pass(passes.LowLatency2())
        manager.run_passes(model)
    except RuntimeError as error:
        log.error(
            "Error: %s; occurred during low latency transformation on model: %s version: %d",
            error,
            config.name,
            version,
        )
        raise LoadError("Internal server error") from error


def _specs(model_ports: list[ov.Output], ports: list[ov.Output]) -> dict[str, TensorSpec]:
    """Describe ports (of the compiled model, or of the model itself) under the names of the
    model as read, matched by position, as OVMS does: a compiled port can carry names that the
    plugin merged into it from nodes it removed, and its `get_any_name()` may be one of those."""
    return {
        model_port.get_any_name(): _spec(model_port.get_any_name(), port)
        for model_port, port in zip(model_ports, ports, strict=True)
    }


def _spec(name: str, port: ov.Output) -> TensorSpec:
    """Describe one port under its served name."""
    partial = port.get_partial_shape()
    if partial.rank.is_dynamic:
        raise LoadError(f"Dynamic rank is not supported: {name}")
    element = BY_NUMPY.get(np.dtype(port.get_element_type().to_dtype()))
    if element is None:
        raise LoadError(f"Unsupported element type {port.get_element_type()}")
    shape = tuple(d.get_length() if d.is_static else DYNAMIC for d in partial)
    return TensorSpec(name, element, shape)


def _plugin_config(config: ModelConfig) -> dict[str, object]:
    """The plugin config, with OVMS's default PERFORMANCE_HINT=LATENCY."""
    plugin: dict[str, object] = dict(config.plugin_config)
    if "NUM_STREAMS" not in plugin and "PERFORMANCE_HINT" not in plugin:
        plugin["PERFORMANCE_HINT"] = "LATENCY"
    return plugin


def _nireq(compiled: ov.CompiledModel, requested: int) -> int:
    """`nireq`, or OpenVINO's optimal number of infer requests when 0."""
    if requested > MAX_NIREQ:
        raise LoadError("Exceeded allowed nireq value")
    if requested:
        return requested
    try:
        return max(1, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
    except RuntimeError:
        return 1


def load_servable(core: ov.Core, config: ModelConfig, version: int) -> Servable:
    """Load `base_path/<version>/` as a Servable, applying the model's settings."""
    if config.stateful and config.has_auto_parameter:
        log.error(
            "Requested setting dynamic parameters for stateful model %s. Dynamic shape and "
            "dynamic batch size not supported for stateful models.",
            config.name,
        )
        raise LoadError(DYNAMIC_ON_STATEFUL)
    if config.stateful and config.sequence_batching is not None:
        return _load_batched(core, config, version)
    model = _prepared_model(core, config, version)
    compiled = _compile(core, config, model)
    inputs = _specs(model.inputs, compiled.inputs)
    outputs = _specs(model.outputs, compiled.outputs)
    # After a failed inference the CPU plugin can keep failing shapes that worked before, for
    # every request of that compiled model; a dynamic model's slots then recompile (rare, slow).
    dynamic = not all(spec.is_static for spec in inputs.values())
    recompile = (lambda: _compile_version(core, config, version)) if dynamic else None
    controls = _control_filler(config, inputs)
    count = _nireq(compiled, config.nireq)
    slots = [InferSlot(compiled, inputs, outputs, recompile) for _ in range(count)]
    sequences = None
    if config.stateful:
        sequences = SequenceManager(
            config.max_sequence_number, f"{config.name}, version: {version}"
        )
    served = _without_controls(inputs, controls)
    pool = InferPool(slots)
    return Servable(config.name, version, served, outputs, pool, sequences, None, controls)


def _control_filler(config: ModelConfig, inputs: dict[str, TensorSpec]) -> ControlFiller | None:
    """The version's control-input filler (ours), None without control inputs; LoadError if
    the model cannot take them."""
    if not config.control_inputs:
        return None
    try:
        return ControlFiller(config.control_inputs, inputs)
    except ControlInputMismatch as error:
        raise LoadError(str(error)) from error


def _without_controls(
    inputs: dict[str, TensorSpec], controls: ControlFiller | None
) -> dict[str, TensorSpec]:
    """The inputs a client sends and metadata lists: the control inputs are the server's."""
    if controls is None:
        return inputs
    return {name: spec for name, spec in inputs.items() if name not in controls.names}


def _load_batched(core: ov.Core, config: ModelConfig, version: int) -> Servable:
    """A stateful version served with sequence batching: the twin only, never unbatched."""
    assert config.sequence_batching is not None
    model = _prepared_model(core, config, version)
    inputs = _specs(model.inputs, model.inputs)
    outputs = _specs(model.outputs, model.outputs)
    controls = _control_filler(config, inputs)
    try:
        batcher = load_batcher(core, model, config.target_device, _plugin_config(config), config)
    except BatchingError as error:
        log.error("Model: %s, version: %d cannot be batched: %s", config.name, version, error)
        raise LoadError(f"Sequence batching is not possible for this model: {error}") from error
    log.info(
        "Model: %s, version: %d batches its sequences: max_batch_size %d, "
        "max_queue_delay_microseconds %d",
        config.name,
        version,
        config.sequence_batching.max_batch_size,
        config.sequence_batching.max_queue_delay_microseconds,
    )
    sequences = SequenceManager(config.max_sequence_number, f"{config.name}, version: {version}")
    served = _without_controls(inputs, controls)
    return Servable(
        config.name, version, served, outputs, InferPool([]), sequences, batcher, controls
    )


def _compile_version(core: ov.Core, config: ModelConfig, version: int) -> ov.CompiledModel:
    """Read the version's model file, apply LowLatency2 and the shape settings, and compile."""
    return _compile(core, config, _prepared_model(core, config, version))


def _compile(core: ov.Core, config: ModelConfig, model: ov.Model) -> ov.CompiledModel:
    """Compile a prepared model for the configured device."""
    try:
        return core.compile_model(model, config.target_device, _plugin_config(config))
    except RuntimeError as error:
        raise LoadError(f"Could not compile the model: {error}") from error


def _prepared_model(core: ov.Core, config: ModelConfig, version: int) -> ov.Model:
    """Read the version's model file, apply LowLatency2 and the shape settings."""
    path = find_model_file(config.base_path / str(version))
    if path is None:
        raise LoadError(f"No model file found for model {config.name} version {version}")
    try:
        model = core.read_model(path)
    except RuntimeError as error:
        raise LoadError(f"Could not read the model file: {error}") from error
    _name_unnamed_ports(model)
    if config.low_latency_transformation:
        _apply_low_latency(model, config, version)
    shapes = _requested_shapes(model, config)
    try:
        if shapes:
            model.reshape({name: ov.PartialShape(dims) for name, dims in shapes.items()})
    except RuntimeError as error:
        raise LoadError(f"Could not compile the model: {error}") from error
    return model
