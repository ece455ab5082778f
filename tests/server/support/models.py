"""Small models for the server tests, built here so the tests depend on no other builder.

Also the main server's config.json (`MAIN_MODELS`), which serves most of them.
"""

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from helpers.models.summator import make_variable
from helpers.serving.protocol import EXACT_F32  # the served LSTMs are compared with f32 NumPy

# The main server's config.json: one process serves every model the shared tests need.
MAIN_MODELS: list[dict[str, object]] = [
    {"name": "summator", "stateful": True, "idle_sequence_cleanup": False},
    {"name": "ids", "base_path": "summator", "stateful": True},
    {"name": "limited", "base_path": "summator", "stateful": True, "max_sequence_number": 3},
    {"name": "idle", "base_path": "summator", "stateful": True},
    {"name": "dummy"},
    {"name": "dummy_stateful", "base_path": "dummy", "stateful": True},
    {
        "name": "ti_ll",
        "stateful": True,
        "low_latency_transformation": True,
        "plugin_config": EXACT_F32,
    },
    {"name": "ti_plain", "base_path": "ti_ll", "stateful": True, "plugin_config": EXACT_F32},
]
MAIN_CLEANER_SECONDS = 1


def build_dummy() -> ov.Model:
    """OVMS's `dummy`: input `b` f32 [1,10], output `a` = b + 1, no state."""
    b = ops.parameter([1, 10], np.float32, name="b")
    b.output(0).set_names({"b"})
    total = ops.add(b, ops.constant(np.ones((1, 10), np.float32)))
    return ov.Model([ops.result(total, name="a")], [b], "dummy")


def lstm_weights(inputs: int, hidden: int, seed: int) -> tuple[np.ndarray, ...]:
    """Deterministic LSTMCell weights W [4H,I], R [4H,H], B [4H]."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((4 * hidden, inputs)).astype(np.float32) * 0.5
    r = rng.standard_normal((4 * hidden, hidden)).astype(np.float32) * 0.5
    b = rng.standard_normal(4 * hidden).astype(np.float32) * 0.1
    return w, r, b


def build_tensor_iterator_lstm(steps: int, inputs: int = 3, hidden: int = 8) -> ov.Model:
    """A TensorIterator over an LSTMCell body: X [1,steps,I] -> Y [1,steps,H], zero h0/c0."""
    w, r, b = lstm_weights(inputs, hidden, seed=0)
    x = ops.parameter([1, steps, inputs], np.float32, name="X")
    x.output(0).set_names({"X"})
    xt = ops.parameter([1, 1, inputs], np.float32, name="xt")
    h = ops.parameter([1, hidden], np.float32, name="h")
    c = ops.parameter([1, hidden], np.float32, name="c")
    axis = ops.constant(np.array([1], np.int64))
    cell = ops.lstm_cell(ops.squeeze(xt, axis), h, c, w, r, b, hidden)
    h_out, c_out = ops.result(cell.output(0)), ops.result(cell.output(1))
    y_out = ops.result(ops.unsqueeze(cell.output(0), axis))
    body = ov.Model([h_out, c_out, y_out], [xt, h, c], "body")
    loop = ops.tensor_iterator()
    loop.set_body(body)
    loop.set_friendly_name("lstm_ti")
    loop.set_sliced_input(xt, x.output(0), 0, 1, 1, -1, 1)
    zeros = np.zeros((1, hidden), np.float32)
    loop.set_merged_input(h, ops.constant(zeros).output(0), h_out.output(0))
    loop.set_merged_input(c, ops.constant(zeros).output(0), c_out.output(0))
    y = loop.get_concatenated_slices(y_out.output(0), 0, 1, 1, -1, 1)
    return ov.Model([ops.result(y, name="Y")], [x], "ti_lstm")


def build_dynamic_model() -> ov.Model:
    """`dyn`: ids i32 [-1,-1] + mask u8 [-1,-1] -> sum (broadcast); scale f16 [1] -> 2*scale."""
    ids = ops.parameter([-1, -1], np.int32, name="ids")
    mask = ops.parameter([-1, -1], np.uint8, name="mask")
    scale = ops.parameter([1], np.float16, name="scale")
    for param, name in ((ids, "ids"), (mask, "mask"), (scale, "scale")):
        param.output(0).set_names({name})
    total = ops.result(ops.add(ids, ops.convert(mask, "i32")), name="sum")
    total.output(0).set_names({"sum"})
    doubled = ops.multiply(scale, ops.constant(np.array([2], np.float16)))
    scaled = ops.result(doubled, name="scaled")
    scaled.output(0).set_names({"scaled"})
    return ov.Model([total, scaled], [ids, mask, scale], "dyn")


def build_slow_summator(size: int = 1024, rounds: int | None = None) -> ov.Model:
    """`y` = running sum of `x` [1,1], after rounds of tanh(matmul) on a `size` x `size` matrix.

    With `rounds` every step does that many; without, the input `n` [1] sets them per request.
    """
    x_in = ops.parameter([1, 1], np.float32, name="x")
    x_in.output(0).set_names({"x"})
    parameters = [x_in]
    if rounds is None:
        rounds_in = ops.parameter([1], np.int64, name="n")
        rounds_in.output(0).set_names({"n"})
        parameters.append(rounds_in)
        trip_count = ops.squeeze(rounds_in, ops.constant([0]))
    else:
        trip_count = ops.constant(np.array(rounds, np.int64))
    variable = make_variable("sum")
    total = ops.add(ops.read_value(ops.constant(np.zeros((1, 1), np.float32)), variable), x_in)
    weights = np.random.default_rng(0).standard_normal((size, size)) / np.sqrt(size)
    matrix = ops.parameter([size, size], np.float32, name="m")
    product = ops.matmul(matrix, ops.constant(weights.astype(np.float32)), False, False)
    body_next = ops.result(ops.tanh(product))
    body = ov.Model([ops.result(ops.constant(np.array(True))), body_next], [matrix], "body")
    loop = ops.loop(trip_count, ops.constant(np.array(True)))
    loop.set_function(body)
    loop.set_special_body_ports([-1, 0])
    start = ops.add(
        ops.constant(np.eye(size, dtype=np.float32)),
        ops.broadcast(x_in, ops.constant([size, size])),
    )
    loop.set_merged_input(matrix, start.output(0), body_next.output(0))
    work = ops.reduce_mean(loop.get_iter_value(body_next.output(0), -1), ops.constant([0, 1]), True)
    # Adding 0 * work keeps `y` exact while the work cannot be optimised away.
    zero = ops.multiply(work, ops.constant(np.zeros((1, 1), np.float32)))
    y = ops.result(ops.add(total, zero), name="y")
    y.output(0).set_names({"y"})
    return ov.Model([y], [ops.assign(total, variable)], parameters, "slow_summator")
