"""Builders for recurrent models (LSTM/GRU cells, TensorIterator, sequences) and numpy references.

OpenVINO's gate orders: LSTM weights are stacked f, i, c, o ("fico"); GRU weights z, r, h ("zrh").
Every builder uses static shapes and batch 1, as the notebooks stream one sample at a time.
"""

from dataclasses import dataclass

import numpy as np
import openvino as ov
import openvino.opset13 as ops
from openvino.op.util import MergedInputDescription


@dataclass(frozen=True)
class RnnWeights:
    """Weights of one recurrent cell: W [G*H, I], R [G*H, H] and the summed bias B [G*H]."""

    W: np.ndarray
    R: np.ndarray
    B: np.ndarray
    gates: int

    @property
    def hidden_size(self) -> int:
        """H, the size of the hidden state."""
        return self.R.shape[1]

    @property
    def input_size(self) -> int:
        """I, the size of one input step."""
        return self.W.shape[1]

    @property
    def nbytes(self) -> int:
        """Size of all weights in bytes."""
        return self.W.nbytes + self.R.nbytes + self.B.nbytes


def random_weights(input_size: int, hidden_size: int, gates: int, seed: int = 0) -> RnnWeights:
    """Return seeded float32 weights, uniform in ±1/sqrt(H) (PyTorch's default for RNNs)."""
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(hidden_size)

    def draw(*shape: int) -> np.ndarray:
        return rng.uniform(-bound, bound, size=shape).astype(np.float32)

    rows = gates * hidden_size
    return RnnWeights(draw(rows, input_size), draw(rows, hidden_size), draw(rows), gates)


def random_lstm_weights(input_size: int, hidden_size: int, seed: int = 0) -> RnnWeights:
    """Random LSTM weights (four gates, order f, i, c, o)."""
    return random_weights(input_size, hidden_size, 4, seed)


def random_gru_weights(input_size: int, hidden_size: int, seed: int = 0) -> RnnWeights:
    """Random GRU weights (three gates, order z, r, h)."""
    return random_weights(input_size, hidden_size, 3, seed)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def lstm_reference(
    xs: np.ndarray, weights: RnnWeights, h0: np.ndarray, c0: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run an LSTM over xs [T, I] in float64 numpy; return (hidden states [T, H], h_T, c_T)."""
    W, R, B = (a.astype(np.float64) for a in (weights.W, weights.R, weights.B))
    h, c = h0.reshape(-1).astype(np.float64), c0.reshape(-1).astype(np.float64)
    hs = []
    for x in xs.reshape(len(xs), -1):
        f, i, g, o = np.split(W @ x + R @ h + B, 4)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        hs.append(h)
    return np.array(hs), h, c


def gru_reference(xs: np.ndarray, weights: RnnWeights, h0: np.ndarray) -> np.ndarray:
    """Run a GRU (linear_before_reset=False) over xs [T, I] in float64; return states [T, H]."""
    W, R, B = (a.astype(np.float64) for a in (weights.W, weights.R, weights.B))
    Wz, Wr, Wh = np.split(W, 3)
    Rz, Rr, Rh = np.split(R, 3)
    bz, br, bh = np.split(B, 3)
    h = h0.reshape(-1).astype(np.float64)
    hs = []
    for x in xs.reshape(len(xs), -1):
        z = _sigmoid(Wz @ x + Rz @ h + bz)
        r = _sigmoid(Wr @ x + Rr @ h + br)
        candidate = np.tanh(Wh @ x + Rh @ (r * h) + bh)
        h = (1.0 - z) * candidate + z * h
        hs.append(h)
    return np.array(hs)


def _parameter(shape: list[int], name: str) -> ov.Node:
    """A float32 Parameter; ov.Model gives its tensor the same name."""
    return ops.parameter(shape, np.float32, name=name)


def _axis(axis: int) -> ov.Node:
    """An i64 Constant [axis], for Squeeze/Unsqueeze."""
    return ops.constant(np.array([axis], dtype=np.int64))


def build_lstm_step_model(weights: RnnWeights, head: np.ndarray | None = None) -> ov.Model:
    """One LSTM step with the state as explicit inputs/outputs: x, h_in, c_in -> y, h_out, c_out.

    With `head` [O, H] the output is y = h_t @ head.T, a tensor of its own. Without a head the
    output *is* the new hidden state, so y and h_out are two Results on one tensor.
    """
    H = weights.hidden_size
    x = _parameter([1, weights.input_size], "x")
    h_in = _parameter([1, H], "h_in")
    c_in = _parameter([1, H], "c_in")
    cell = ops.lstm_cell(x, h_in, c_in, weights.W, weights.R, weights.B, H, name="lstm_cell")
    h_new, c_new = cell.output(0), cell.output(1)
    y = h_new if head is None else ops.matmul(h_new, head.astype(np.float32), False, True)
    results = [ops.result(v, name=n) for v, n in ((y, "y"), (h_new, "h_out"), (c_new, "c_out"))]
    return ov.Model(results, [x, h_in, c_in], "lstm_step")


def build_stateful_lstm_cell(weights: RnnWeights) -> ov.Model:
    """x [1, I] -> y = h': one LSTMCell step whose h and c live in variables `h` and `c`."""
    H = weights.hidden_size
    x = _parameter([1, weights.input_size], "x")
    zeros = ops.constant(np.zeros((1, H), np.float32))
    h = ops.read_value(zeros, "h", np.float32, [1, H])
    c = ops.read_value(zeros, "c", np.float32, [1, H])
    cell = ops.lstm_cell(x, h, c, weights.W, weights.R, weights.B, H, name="lstm_cell")
    # Assign takes a node, not an output port: a no-op Convert gives each state its own node.
    h_next, c_next = (ops.convert(cell.output(i), np.float32) for i in (0, 1))
    sinks = [ops.assign(h_next, "h"), ops.assign(c_next, "c")]
    return ov.Model([ops.result(h_next, name="y")], sinks, [x], "lstm_cell_stateful")


def build_lstm_tensor_iterator(
    weights: RnnWeights, seq_len: int, name: str = "lstm_ti", hardcoded_reshape: bool = False
) -> ov.Model:
    """An LSTM layer as a TensorIterator over X [1, T, I] with H0, C0 [1, H] -> Y [1, T, H].

    The body is one LSTMCell whose Parameters are named x_t, h and c. With `hardcoded_reshape`
    the model input is flat, X [1, T*I], and a Reshape whose target shape [1, T, I] is a
    Constant turns it into a sequence: the pattern that makes a model non-reshapable.
    """
    H, size = weights.hidden_size, weights.input_size
    x_t = _parameter([1, 1, size], "x_t")
    h = _parameter([1, H], "h")
    c = _parameter([1, H], "c")
    x_2d = ops.squeeze(x_t, _axis(1))
    cell = ops.lstm_cell(x_2d, h, c, weights.W, weights.R, weights.B, H, name="cell")
    y_t = ops.unsqueeze(cell.output(0), _axis(1))
    body_h, body_c, body_y = ops.result(cell.output(0)), ops.result(cell.output(1)), ops.result(y_t)
    body = ov.Model([body_h, body_c, body_y], [x_t, h, c], "lstm_body")

    if hardcoded_reshape:
        X = _parameter([1, seq_len * size], "X")
        target = ops.constant(np.array([1, seq_len, size], dtype=np.int64), name="hardcoded_shape")
        sequence = ops.reshape(X, target, special_zero=False, name="flat_to_sequence").output(0)
    else:
        X = _parameter([1, seq_len, size], "X")
        sequence = X.output(0)
    H0, C0 = _parameter([1, H], "H0"), _parameter([1, H], "C0")

    ti = ops.tensor_iterator()
    ti.set_body(body)
    ti.set_sliced_input(x_t, sequence, 0, 1, 1, -1, 1)
    ti.set_merged_input(h, H0.output(0), body_h.output(0))
    ti.set_merged_input(c, C0.output(0), body_c.output(0))
    Y = ti.get_concatenated_slices(body_y.output(0), 0, 1, 1, -1, 1)
    ti.set_friendly_name(name)
    return ov.Model([ops.result(Y, name="Y")], [X, H0, C0], name)


def build_lstm_sequence(weights: RnnWeights, seq_len: int, name: str = "lstm_seq") -> ov.Model:
    """An LSTMSequence over X [1, T, I] with H0, C0 [1, 1, H] -> Y [1, T, H] (one direction)."""
    H = weights.hidden_size
    X = _parameter([1, seq_len, weights.input_size], "X")
    H0, C0 = _parameter([1, 1, H], "H0"), _parameter([1, 1, H], "C0")
    lengths = ops.constant(np.array([seq_len], dtype=np.int32))
    W, R, B = weights.W[None], weights.R[None], weights.B[None]
    seq = ops.lstm_sequence(X, H0, C0, lengths, W, R, B, H, "forward", name=name)
    Y = ops.squeeze(seq.output(0), _axis(1))
    return ov.Model([ops.result(Y, name="Y")], [X, H0, C0], name)


def build_gru_sequence(weights: RnnWeights, seq_len: int, name: str = "gru_seq") -> ov.Model:
    """A GRUSequence over X [1, T, I] with H0 [1, 1, H] -> Y [1, T, H] (one direction)."""
    H = weights.hidden_size
    X = _parameter([1, seq_len, weights.input_size], "X")
    H0 = _parameter([1, 1, H], "H0")
    lengths = ops.constant(np.array([seq_len], dtype=np.int32))
    W, R, B = weights.W[None], weights.R[None], weights.B[None]
    seq = ops.gru_sequence(X, H0, lengths, W, R, B, H, "forward", name=name)
    Y = ops.squeeze(seq.output(0), _axis(1))
    return ov.Model([ops.result(Y, name="Y")], [X, H0], name)


def op_type_counts(model: ov.Model) -> dict[str, int]:
    """Count the model's operations by type, in order of first appearance (Constants left out)."""
    counts: dict[str, int] = {}
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind != "Constant":
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def find_op(model: ov.Model, friendly_name: str) -> ov.Node:
    """Return the operation called `friendly_name` (KeyError if there is none)."""
    for op in model.get_ordered_ops():
        if op.get_friendly_name() == friendly_name:
            return op
    raise KeyError(friendly_name)


STATE_OPS: frozenset[str] = frozenset({"ReadValue", "Assign"})


def _label(op: ov.Node) -> str:
    """`Type name`; state ops show their variable, and auto-generated names (`Add_12`) are left out.

    Auto-generated names count nodes created in the process, so they would change between runs.
    """
    kind, name = op.get_type_name(), op.get_friendly_name()
    generated = name.startswith(f"{kind}_") and name[len(kind) + 1 :].isdigit()
    if kind in STATE_OPS:
        variable = op.get_variable_id()
        return (
            f"{kind}[{variable}]" if generated or name == variable else f"{kind}[{variable}] {name}"
        )
    return kind if generated else f"{kind} {name}"


def graph_listing(model: ov.Model, hide: frozenset[str] = frozenset({"Constant"})) -> str:
    """One line per op in execution order, `op <- its inputs`; ops of the `hide` types left out."""
    lines = []
    for op in model.get_ordered_ops():
        if op.get_type_name() in hide:
            continue
        sources = []
        for port in op.inputs():
            source = port.get_source_output()
            node = source.get_node()
            if node.get_type_name() in hide:
                sources.append(node.get_type_name().lower())
                continue
            port_suffix = f":{source.get_index()}" if node.get_output_size() > 1 else ""
            sources.append(_label(node) + port_suffix)
        arrow = f"  <- {', '.join(sources)}" if sources else ""
        lines.append(_label(op) + arrow)
    return "\n".join(lines)


def low_latency2_state_names(model: ov.Model) -> list[str]:
    """Predict the variables LowLatency2 creates for every TensorIterator/Loop in `model`.

    The rule: `<op name>/<body Parameter name>/variable_<k>`, where k counts *all* the op's
    input descriptions (sliced and invariant ones too) in order, and only back edges
    (merged inputs) become variables.
    """
    names = []
    for op in model.get_ordered_ops():
        if op.get_type_name() not in {"TensorIterator", "Loop"}:
            continue
        body_parameters = op.get_function().get_parameters()
        for k, description in enumerate(op.get_input_descriptions()):
            if isinstance(description, MergedInputDescription):
                parameter = body_parameters[description.body_parameter_index]
                names.append(
                    f"{op.get_friendly_name()}/{parameter.get_friendly_name()}/variable_{k}"
                )
    return names
