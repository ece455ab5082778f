"""Builders for recurrent models in OpenVINO: LSTM/GRU cells, a TensorIterator, sequence ops.

Taught in notebooks 03 (an LSTM step made stateful; its cells define `build_lstm_step_model` word
for word, kept equal by a test) and 04 (LowLatency2 on a TensorIterator and the sequence ops);
05 streams the TensorIterator, and notebook 09 serves it. The NumPy references are in
`recurrent_reference`.
OpenVINO's gate orders: LSTM weights are stacked f, i, c, o ("fico"); GRU weights z, r, h ("zrh").
Every builder uses static shapes and batch 1, as the notebooks stream one sample at a time.
"""

from dataclasses import dataclass

import numpy as np
import openvino as ov
import openvino.opset13 as ops


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


def _parameter(shape: list[int], name: str) -> ov.Node:
    """A float32 Parameter; ov.Model gives its tensor the same name."""
    return ops.parameter(shape, np.float32, name=name)


def _axis(axis: int) -> ov.Node:
    """An i64 Constant [axis], for Squeeze/Unsqueeze."""
    return ops.constant(np.array([axis], dtype=np.int64))


def build_lstm_step_model(weights: RnnWeights, head: np.ndarray | None = None) -> ov.Model:
    """One LSTM step with the state as explicit inputs and outputs (y = h @ head.T, or h)."""
    H = weights.hidden_size
    x = ops.parameter([1, weights.input_size], np.float32, name="x")
    h_in = ops.parameter([1, H], np.float32, name="h_in")
    c_in = ops.parameter([1, H], np.float32, name="c_in")
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
