"""Small models for the server tests, built here so the tests depend on no other builder.

Also the main server's config.json (`MAIN_MODELS`), which serves most of them.
"""

import numpy as np
import openvino as ov
import openvino.opset13 as ops
from openvino.op.util import Variable, VariableInfo

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


# The KV-cache model: one attention layer whose keys and values are states that grow per token.
KV_VOCAB, KV_HEADS, KV_HEAD_DIM = 64, 4, 64
KV_STATES = ("past_key_values.0.keypresent.0.key", "past_key_values.0.valuepresent.0.value")


def kv_weights(seed: int = 0) -> dict[str, np.ndarray]:
    """Deterministic weights of `build_kv_attention` (data, shared with the tests' NumPy model)."""
    rng = np.random.default_rng(seed)
    width = KV_HEADS * KV_HEAD_DIM

    def dense(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) / np.sqrt(rows)).astype(np.float32)

    return {
        "embedding": rng.standard_normal((KV_VOCAB, width)).astype(np.float32),
        "frequencies": (1.0 / 10_000 ** (np.arange(width) / width)).astype(np.float32),
        "wq": dense(width, width),
        "wk": dense(width, width),
        "wv": dense(width, width),
        "wo": dense(width, width),
        "unembed": dense(width, KV_VOCAB),
    }


def _kv_variable(variable_id: str) -> Variable:
    """A variable of dynamic shape [?, H, ?, D], as a KV cache is."""
    info = VariableInfo()
    info.variable_id = variable_id
    info.data_shape = ov.PartialShape([-1, KV_HEADS, -1, KV_HEAD_DIM])
    info.data_type = ov.Type.f32
    return Variable(info)


def _split_heads(x: ov.Output) -> ov.Node:
    """[B, L, H*D] -> [B, H, L, D]."""
    heads = ops.reshape(x, ops.constant([0, 0, KV_HEADS, KV_HEAD_DIM]), special_zero=True)
    return ops.transpose(heads, ops.constant([0, 2, 1, 3]))


def build_kv_attention(seed: int = 0) -> ov.Model:
    """A stateful one-layer attention LM exported the way Optimum-Intel exports decoders.

    `input_ids` i64 [?, ?] and `beam_idx` i32 [?] -> `logits` f32 [?, ?, V]. The key and value
    caches [B, H, past_len, D] are states: each ReadValue starts from Broadcast(0, [B, H, 0, D])
    (B from ShapeOf(input_ids)), is reordered by Gather(beam_idx), and grows by Concat on axis 2.
    Positions (sinusoids added to the embedding, and the causal mask) count from the cache length.
    """
    w = kv_weights(seed)
    ids = ops.parameter([-1, -1], np.int64, name="input_ids")
    beam_idx = ops.parameter([-1], np.int32, name="beam_idx")
    for param, name in ((ids, "input_ids"), (beam_idx, "beam_idx")):
        param.output(0).set_names({name})
    ids_shape = ops.shape_of(ids)
    batch = ops.gather(ids_shape, ops.constant([0]), ops.constant(0))
    length = ops.gather(ids_shape, ops.constant(1), ops.constant(0))
    init_shape = ops.concat([batch, ops.constant([KV_HEADS, 0, KV_HEAD_DIM])], 0)
    init = ops.broadcast(ops.constant(np.float32(0)), init_shape)
    variables = [_kv_variable(variable_id) for variable_id in KV_STATES]
    pasts = [
        ops.gather(ops.read_value(init, variable), beam_idx, ops.constant(0))
        for variable in variables
    ]
    past_len = ops.gather(ops.shape_of(pasts[0]), ops.constant(2), ops.constant(0))
    total = ops.add(past_len, length)
    positions = ops.range(past_len, total, ops.constant(np.int64(1)), "i64")
    angles = ops.multiply(
        ops.unsqueeze(ops.convert(positions, "f32"), ops.constant([1])),
        ops.constant(w["frequencies"][None, :]),
    )
    x = ops.add(ops.gather(ops.constant(w["embedding"]), ids, ops.constant(0)), ops.sin(angles))
    query = _split_heads(ops.matmul(x, ops.constant(w["wq"]), False, False).output(0))
    caches, assigns = [], []
    for past, variable, weight in zip(pasts, variables, ("wk", "wv"), strict=True):
        new = _split_heads(ops.matmul(x, ops.constant(w[weight]), False, False).output(0))
        cache = ops.concat([past, new], 2)
        caches.append(cache)
        assigns.append(ops.assign(cache, variable))
    scores = ops.multiply(
        ops.matmul(query, caches[0], False, True),
        ops.constant(np.float32(1 / np.sqrt(KV_HEAD_DIM))),
    )
    key_positions = ops.range(ops.constant(np.int64(0)), total, ops.constant(np.int64(1)), "i64")
    future = ops.greater(
        ops.unsqueeze(key_positions, ops.constant([0])),
        ops.unsqueeze(positions, ops.constant([1])),
    )
    masked = ops.select(future, ops.constant(np.float32(-1e30)), scores)
    context = ops.matmul(ops.softmax(masked, -1), caches[1], False, False)
    merged = ops.reshape(
        ops.transpose(context, ops.constant([0, 2, 1, 3])),
        ops.constant([0, 0, KV_HEADS * KV_HEAD_DIM]),
        special_zero=True,
    )
    hidden = ops.add(x, ops.matmul(merged, ops.constant(w["wo"]), False, False))
    logits = ops.result(ops.matmul(hidden, ops.constant(w["unembed"]), False, False), name="logits")
    logits.output(0).set_names({"logits"})
    return ov.Model([logits], assigns, [ids, beam_idx], "kv_attention")
