"""Draw only the operations a recurrent state flows through, from its input to its output.

Used in notebook 06: Silero VAD has about 300 operations, too many for `helpers.graph.drawing`, but
the path of its state (a Parameter or ReadValue, through the LSTM, to a Result or Assign) is short.
Constants are left out; colours are the package's drawing's.
"""

import openvino as ov
from matplotlib.axes import Axes

from helpers.graph.drawing import draw_box, draw_edge

BOX_WIDTH, BOX_HEIGHT, COLUMN_STEP, ROW_STEP = 1.6, 0.6, 2.1, 0.9


def _node_key(node: ov.Node) -> str:
    return node.get_friendly_name()


def state_path(model: ov.Model, source: ov.Node, sink: ov.Node) -> list[ov.Node]:
    """Operations on some path from `source` to `sink`, in topological order, without Constants."""
    downstream = {_node_key(source)}
    for op in model.get_ordered_ops():
        if any(_node_key(i.get_source_output().get_node()) in downstream for i in op.inputs()):
            downstream.add(_node_key(op))
    upstream, stack = {_node_key(sink)}, [sink]
    while stack:
        for port in stack.pop().inputs():
            node = port.get_source_output().get_node()
            if _node_key(node) not in upstream:
                upstream.add(_node_key(node))
                stack.append(node)
    keep = downstream & upstream
    return [op for op in model.get_ordered_ops() if _node_key(op) in keep or op == sink]


def plot_state_path(ax: Axes, path: list[ov.Node], title: str) -> None:
    """Draw `path` left to right (one column per step from the source), edges between its nodes."""
    column: dict[str, int] = {}
    for op in path:
        parents = [
            column[k]
            for k in (_node_key(i.get_source_output().get_node()) for i in op.inputs())
            if k in column
        ]
        column[_node_key(op)] = max(parents, default=-1) + 1
    rows: dict[int, int] = {}
    centre: dict[str, tuple[float, float]] = {}
    for op in path:
        c = column[_node_key(op)]
        centre[_node_key(op)] = (c * COLUMN_STEP, -rows.get(c, 0) * ROW_STEP)
        rows[c] = rows.get(c, 0) + 1
    for op in path:
        x1, y1 = centre[_node_key(op)]
        for port in op.inputs():
            key = _node_key(port.get_source_output().get_node())
            if key in centre:
                draw_edge(ax, centre[key], (x1, y1), BOX_WIDTH, mutation_scale=10)
        draw_box(ax, (x1, y1), (BOX_WIDTH, BOX_HEIGHT), op.get_type_name())
        name = _node_key(op).split("/")[-1]
        label = name if len(name) <= 14 else name[:13] + "…"
        ax.text(x1, y1, f"{op.get_type_name()}\n{label}", ha="center", va="center", fontsize=7)
    xs = [x for x, _ in centre.values()]
    ys = [y for _, y in centre.values()]
    ax.set_xlim(min(xs) - BOX_WIDTH, max(xs) + BOX_WIDTH)
    ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title)
