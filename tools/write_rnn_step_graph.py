"""Write data/rnn_step/: a frozen TensorFlow graph of one RNN step whose state never leaves it.

Notebook 03 cuts this graph at chosen tensors. The graph is stored so that the notebook needs no
TensorFlow at run time; rerun `python -m tools.write_rnn_step_graph` to regenerate it.
"""

import numpy as np

from helpers.paths import RNN_STEP_GRAPH, RNN_STEP_WEIGHTS
from helpers.quiet import native_stderr_silenced

with native_stderr_silenced():
    import tensorflow as tf


def main() -> None:
    """Freeze the step function's graph to RNN_STEP_GRAPH and its weights to RNN_STEP_WEIGHTS."""
    rng = np.random.default_rng(3)
    w_x, w_h, w_y = (
        rng.uniform(-0.5, 0.5, size=s).astype(np.float32) for s in ((4, 8), (8, 8), (8, 2))
    )

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="x")])
    def rnn_step(x: tf.Tensor) -> tf.Tensor:
        h0 = tf.zeros([1, 8], name="h0")  # the state starts from zeros on every call
        h_next = tf.tanh(tf.matmul(x, w_x) + tf.matmul(h0, w_h), name="h_next")
        return tf.matmul(h_next, w_y, name="y")

    graph = rnn_step.get_concrete_function().graph.as_graph_def()
    RNN_STEP_GRAPH.parent.mkdir(parents=True, exist_ok=True)
    RNN_STEP_GRAPH.write_bytes(graph.SerializeToString())
    np.savez(RNN_STEP_WEIGHTS, W_x=w_x, W_h=w_h, W_y=w_y)


if __name__ == "__main__":
    main()
