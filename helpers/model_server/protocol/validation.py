"""Standard request validation in OVMS order: count, names, precision, dims, batch, shape, size.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

from collections.abc import Collection, Mapping

import numpy as np

from helpers.model_server.protocol.signature import DYNAMIC, TensorSpec, shape_text
from helpers.model_server.protocol.status import Code, ServingError

# The largest byte span an array (numpy, and so the OpenVINO tensor made from it) can address.
MAX_ADDRESSABLE_BYTES = int(np.iinfo(np.intp).max)


def check_input_names(
    inputs: Mapping[str, TensorSpec], sent: Collection[str], special_count: int
) -> None:
    """Check the number of tensors sent (model inputs + special inputs present), then names."""
    expected = len(inputs) + special_count
    if len(sent) != expected:
        raise ServingError(Code.INVALID_NO_OF_INPUTS, f"Expected: {expected}; Actual: {len(sent)}")
    for name in inputs:
        if name not in sent:
            raise ServingError(Code.INVALID_MISSING_INPUT, f"Required input: {name}")


def check_precision(spec: TensorSpec, sent_precision: str) -> None:
    """Reject a tensor whose element type differs from the model input's."""
    if sent_precision != spec.element.precision:
        raise ServingError(
            Code.INVALID_PRECISION,
            f"Expected: {spec.element.precision}; Actual: {sent_precision}; "
            f"input name: {spec.name}",
        )


def check_shape(spec: TensorSpec, shape: tuple[int, ...]) -> None:
    """Check number of dimensions, then batch (dim 0), then the other dimensions."""
    expected = spec.shape
    mismatch = _mismatch(spec, shape)
    if len(shape) != len(expected):
        raise ServingError(Code.INVALID_NO_OF_SHAPE_DIMENSIONS, mismatch)
    if any(d < 0 for d in shape):
        raise ServingError(Code.INVALID_SHAPE, mismatch)
    if expected and expected[0] != DYNAMIC and shape[0] != expected[0]:
        raise ServingError(
            Code.INVALID_BATCH_SIZE,
            f"Expected: {expected[0]}; Actual: {shape[0]}; input name: {spec.name}",
        )
    for want, got in zip(expected[1:], shape[1:], strict=True):
        if want != DYNAMIC and want != got:
            raise ServingError(Code.INVALID_SHAPE, mismatch)


def _mismatch(spec: TensorSpec, shape: tuple[int, ...]) -> str:
    """The details of a shape error: expected and actual shapes and the input name."""
    return (
        f"Expected: {shape_text(spec.shape)}; Actual: {shape_text(shape)}; input name: {spec.name}"
    )


def check_addressable(spec: TensorSpec, shape: tuple[int, ...]) -> None:
    """Reject a shape whose non-zero dims span more bytes than an array can address."""
    # Only an empty tensor (a dim 0) passes the content-size check with such dims: (0, 2**62).
    span = spec.element.numpy.itemsize
    for dim in shape:
        span *= dim or 1
    if span > MAX_ADDRESSABLE_BYTES:
        raise ServingError(Code.INVALID_SHAPE, _mismatch(spec, shape))


def check_content_size(spec: TensorSpec, expected_bytes: int, actual_bytes: int) -> None:
    """Reject data whose byte size does not match the declared shape."""
    if expected_bytes != actual_bytes:
        raise ServingError(
            Code.INVALID_CONTENT_SIZE,
            f"Expected: {expected_bytes} bytes; Actual: {actual_bytes} bytes; "
            f"input name: {spec.name}",
        )
