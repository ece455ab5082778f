"""NumPy references for the recurrent builders: LSTM and GRU run step by step in float64.

Notebooks 03, 04, 05 and 09 check OpenVINO's outputs against them. They read `RnnWeights` in
OpenVINO's gate orders (LSTM f, i, c, o; GRU z, r, h), as `helpers.models.recurrent` builds them.
"""

import numpy as np

from helpers.models.recurrent import RnnWeights


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, elementwise."""
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
