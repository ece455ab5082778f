"""KServe ModelInfer input validation in OVMS's order, and the arrays of the checked inputs.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.

The order (OVMS's RequestValidator::validate with the KFS specializations of
src/kfs_frontend/validation.cpp): the number of inputs, raw buffers mixed with typed contents,
then for each model input by name: missing, negative dimension, BYTES (not served), precision,
number of dimensions, batch, shape, content size (raw) or value count (typed). Details carry the
tensor name twice ("input name: input name: x"), as OVMS's KFS validator writes them.
"""

import math
from collections.abc import Mapping, Sequence

import numpy as np

from helpers.model_server.dataplane.kserve_messages import KServeInput
from helpers.model_server.protocol.dtypes import kserve_datatype
from helpers.model_server.protocol.signature import DYNAMIC, TensorSpec, shape_text
from helpers.model_server.protocol.status import Code, ServingError
from helpers.model_server.protocol.validation import MAX_ADDRESSABLE_BYTES

SIZE_T_MAX = 2**64 - 1
# The numpy type of each KServe datatype's typed contents field (FP16 and BYTES have none).
CONTENTS_NUMPY: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "INT8": np.dtype(np.int32),
    "INT16": np.dtype(np.int32),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "UINT8": np.dtype(np.uint32),
    "UINT16": np.dtype(np.uint32),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
}


def _named(name: str) -> str:
    """OVMS's KFS tensor label, which the details then prefix again."""
    return f"input name: {name}"


def check_input_count(specs: Mapping[str, TensorSpec], inputs: Sequence[KServeInput]) -> None:
    """OVMS's validateNumberOfTensors: at least one input, and exactly the model's count."""
    if inputs and len(inputs) == len(specs):
        return
    raise ServingError(Code.INVALID_NO_OF_INPUTS, f"Expected: {len(specs)}; Actual: {len(inputs)}")


def check_coherency(inputs: Sequence[KServeInput], raw: Sequence[bytes]) -> None:
    """Raw buffers exclude typed contents (OVMS); ours: one raw buffer per input."""
    if not raw:
        return
    for tensor in inputs:
        if tensor.contents is not None:
            raise ServingError(
                Code.INVALID_MESSAGE_STRUCTURE,
                "Passing buffers both in InferInputTensor contents and in raw_input_contents is "
                f"not allowed. Detected buffer in InferInputTensor contents for input: "
                f"{tensor.name}",
            )
    if len(raw) != len(inputs):
        raise ServingError(
            Code.RAW_INPUT_CONTENTS_COUNT, f"Expected: {len(inputs)}; Actual: {len(raw)}"
        )


def _find(inputs: Sequence[KServeInput], name: str) -> int:
    """The position of the first input with this name (its raw buffer's index), or -1."""
    for index, tensor in enumerate(inputs):
        if tensor.name == name:
            return index
    return -1


def check_shape(spec: TensorSpec, tensor: KServeInput) -> None:
    """Negative dims, BYTES, precision, number of dims, batch, then the other dims."""
    label = _named(spec.name)
    shape = tensor.shape
    if any(d < 0 for d in shape):
        raise ServingError(
            Code.INVALID_SHAPE,
            f"Negative or zero dimension size is not acceptable: {shape_text(shape)}; "
            f"input name: {label}",
        )
    if tensor.datatype == "BYTES":
        # OVMS: a BYTES input needs a string or image processing hint; numeric inputs have none.
        raise ServingError(Code.NOT_IMPLEMENTED)
    if tensor.datatype != kserve_datatype(spec.element):
        raise ServingError(
            Code.INVALID_PRECISION,
            f"Expected: {spec.element.precision}; Actual: {tensor.datatype}; input name: {label}",
        )
    mismatch = (
        f"Expected: {shape_text(spec.shape)}; Actual: {shape_text(shape)}; input name: {label}"
    )
    if len(shape) != len(spec.shape):
        raise ServingError(Code.INVALID_NO_OF_SHAPE_DIMENSIONS, mismatch)
    if spec.shape and spec.shape[0] != DYNAMIC and shape[0] != spec.shape[0]:
        raise ServingError(
            Code.INVALID_BATCH_SIZE,
            f"Expected: {spec.shape[0]}; Actual: {shape[0]}; input name: {label}",
        )
    for want, got in zip(spec.shape[1:], shape[1:], strict=True):
        if want != DYNAMIC and want != got:
            raise ServingError(Code.INVALID_SHAPE, mismatch)


def _element_count(spec: TensorSpec, shape: tuple[int, ...]) -> int:
    """The element count, or OVMS's overflow error when it exceeds size_t."""
    count = math.prod(shape)
    if count > SIZE_T_MAX:
        raise ServingError(
            Code.INVALID_CONTENT_SIZE,
            f"Shape dimensions overflow; input name: {_named(spec.name)}",
        )
    return count


def _check_addressable(spec: TensorSpec, shape: tuple[int, ...]) -> None:
    """Reject an empty tensor whose other dims span more bytes than an array can address."""
    span = spec.element.numpy.itemsize
    for dim in shape:
        span *= dim or 1
    if span > MAX_ADDRESSABLE_BYTES:
        raise ServingError(
            Code.INVALID_SHAPE,
            f"Expected: {shape_text(spec.shape)}; Actual: {shape_text(shape)}; "
            f"input name: {_named(spec.name)}",
        )


def array_from_raw(spec: TensorSpec, tensor: KServeInput, buffer: bytes) -> np.ndarray:
    """The array of a raw input after OVMS's content-size checks."""
    dtype = spec.element.numpy
    count = _element_count(spec, tensor.shape)
    expected = count * dtype.itemsize
    if expected > SIZE_T_MAX:
        raise ServingError(Code.INVALID_CONTENT_SIZE, f"Shape too large; {_named(spec.name)}")
    if expected != len(buffer):
        raise ServingError(
            Code.INVALID_CONTENT_SIZE,
            f"Expected: {expected} bytes; Actual: {len(buffer)} bytes; "
            f"input name: {_named(spec.name)}",
        )
    _check_addressable(spec, tensor.shape)
    return np.frombuffer(buffer, dtype=dtype).reshape(tensor.shape)


def array_from_contents(spec: TensorSpec, tensor: KServeInput) -> np.ndarray:
    """The array of a typed input after OVMS's value-count check (FP16 has no typed field)."""
    count = _element_count(spec, tensor.shape)
    wire = CONTENTS_NUMPY.get(tensor.datatype)
    values = tensor.contents if tensor.contents is not None and wire is not None else ()
    if count != len(values):
        raise ServingError(
            Code.INVALID_VALUE_COUNT,
            f"Expected: {count} values; Actual: {len(values)} values; "
            f"input name: {_named(spec.name)}",
        )
    _check_addressable(spec, tensor.shape)
    dtype = spec.element.numpy
    if wire is None:
        return np.zeros(tensor.shape, dtype=dtype)
    try:
        # Read at the field's own type, then cast like the TFS path (out-of-range values wrap).
        array = np.array(values, dtype=wire)
    except (OverflowError, TypeError, ValueError) as error:
        raise ServingError(
            Code.INVALID_PRECISION,
            f"values do not fit datatype {tensor.datatype}; input name: {_named(spec.name)}",
        ) from error
    return array.astype(dtype, copy=False).reshape(tensor.shape)


def decode_inputs(
    specs: Mapping[str, TensorSpec], inputs: Sequence[KServeInput], raw: Sequence[bytes]
) -> dict[str, np.ndarray]:
    """Every model input's checked array, in OVMS's order of checks (see the module)."""
    check_input_count(specs, inputs)
    check_coherency(inputs, raw)
    arrays: dict[str, np.ndarray] = {}
    for name in sorted(specs):
        spec = specs[name]
        index = _find(inputs, name)
        if index < 0:
            raise ServingError(Code.INVALID_MISSING_INPUT, f"Required input: {name}")
        tensor = inputs[index]
        check_shape(spec, tensor)
        if raw:
            arrays[name] = array_from_raw(spec, tensor, raw[index])
        else:
            arrays[name] = array_from_contents(spec, tensor)
    return arrays
