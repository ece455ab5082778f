"""Draw an ov.Model as a layered graph with matplotlib, highlighting ReadValue/Assign.

Taught in notebook 01, which draws the summator with it.
"""

from dataclasses import dataclass

import matplotlib.pyplot as plt
import openvino as ov
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from helpers.graph.inspection import STATE_OPS

COLOURS: dict[str, str] = {
    "ReadValue": "#f4a261",
    "Assign": "#f4a261",
    "Parameter": "#a8dadc",
    "Result": "#a8dadc",
    "Constant": "#e9ecef",
}
DEFAULT_COLOUR = "#ffffff"
BOX_WIDTH = 1.5
BOX_HEIGHT = 0.6


@dataclass(frozen=True)
class PlacedNode:
    """One operation and where it is drawn."""

    name: str
    type_name: str
    column: int
    row: float


def layer_columns(model: ov.Model) -> dict[str, int]:
    """Return each op's column: longest path from an input; sources sit just before their users."""
    columns: dict[str, int] = {}
    for op in model.get_ordered_ops():
        parents = [i.get_source_output().get_node().get_friendly_name() for i in op.inputs()]
        columns[op.get_friendly_name()] = max((columns[p] + 1 for p in parents), default=0)
    for op in model.get_ordered_ops():
        users = [
            columns[target.get_node().get_friendly_name()]
            for output in op.outputs()
            for target in output.get_target_inputs()
            if target.get_node().get_friendly_name() in columns  # nodes can be shared by models
        ]
        if not op.inputs() and users:
            columns[op.get_friendly_name()] = min(users) - 1
    return columns


def place_nodes(model: ov.Model) -> dict[str, PlacedNode]:
    """Place every op in its column, rows centred on zero in graph order."""
    columns = layer_columns(model)
    by_column: dict[int, list[ov.Node]] = {}
    for op in model.get_ordered_ops():
        by_column.setdefault(columns[op.get_friendly_name()], []).append(op)
    placed: dict[str, PlacedNode] = {}
    for column, ops_in_column in by_column.items():
        offset = (len(ops_in_column) - 1) / 2
        for index, op in enumerate(ops_in_column):
            name = op.get_friendly_name()
            placed[name] = PlacedNode(name, op.get_type_name(), column, offset - index)
    return placed


def variable_links(model: ov.Model) -> list[tuple[str, str, str]]:
    """Return (Assign name, ReadValue name, variable id) for every variable in the model."""
    readers = {
        op.get_variable_id(): op.get_friendly_name()
        for op in model.get_ordered_ops()
        if op.get_type_name() == "ReadValue"
    }
    return [
        (op.get_friendly_name(), readers[op.get_variable_id()], op.get_variable_id())
        for op in model.get_ordered_ops()
        if op.get_type_name() == "Assign" and op.get_variable_id() in readers
    ]


def _centre(node: PlacedNode) -> tuple[float, float]:
    return node.column * 2.2, node.row * 1.1


def plot_model_graph(model: ov.Model, ax: Axes, title: str | None = None) -> dict[str, PlacedNode]:
    """Draw `model` on `ax` (data flows left to right; the dashed arrow is the state's loop)."""
    placed = place_nodes(model)
    for op in model.get_ordered_ops():
        for port in op.inputs():
            source = placed[port.get_source_output().get_node().get_friendly_name()]
            (x0, y0), (x1, y1) = _centre(source), _centre(placed[op.get_friendly_name()])
            ax.add_patch(
                FancyArrowPatch(
                    (x0 + BOX_WIDTH / 2, y0),
                    (x1 - BOX_WIDTH / 2, y1),
                    arrowstyle="-|>",
                    mutation_scale=12,
                    color="#495057",
                )
            )
    for node in placed.values():
        x, y = _centre(node)
        ax.add_patch(
            FancyBboxPatch(
                (x - BOX_WIDTH / 2, y - BOX_HEIGHT / 2),
                BOX_WIDTH,
                BOX_HEIGHT,
                boxstyle="round,pad=0.02",
                facecolor=COLOURS.get(node.type_name, DEFAULT_COLOUR),
                edgecolor="#212529",
                linewidth=2.0 if node.type_name in STATE_OPS else 1.0,
                label=node.name,
            )
        )
        short_name = node.name if len(node.name) <= 14 else node.name[:13] + "…"
        ax.text(x, y, f"{node.type_name}\n{short_name}", ha="center", va="center", fontsize=8)
    for assign, read, variable_id in variable_links(model):
        (x0, y0), (x1, y1) = _centre(placed[assign]), _centre(placed[read])
        ax.add_patch(
            FancyArrowPatch(
                (x0, y0 - BOX_HEIGHT / 2),
                (x1, y1 - BOX_HEIGHT / 2),
                connectionstyle="arc3,rad=-0.35",
                arrowstyle="-|>",
                mutation_scale=14,
                linestyle="--",
                color="#e76f51",
                linewidth=1.6,
            )
        )
        ax.text(
            (x0 + x1) / 2,
            min(y0, y1) - 0.85,
            f"variable '{variable_id}'\n(next inference)",
            ha="center",
            va="top",
            fontsize=8,
            color="#e76f51",
        )
    xs = [_centre(n)[0] for n in placed.values()]
    ys = [_centre(n)[1] for n in placed.values()]
    ax.set_xlim(min(xs) - BOX_WIDTH, max(xs) + BOX_WIDTH)
    ax.set_ylim(min(ys) - 1.9, max(ys) + 0.6)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return placed


def model_graph_figure(model: ov.Model, title: str | None = None) -> Figure:
    """Return a new figure with `model` drawn on it, sized to the graph."""
    columns = max(layer_columns(model).values()) + 1
    figure, ax = plt.subplots(figsize=(max(6.0, 1.9 * columns), 3.0))
    plot_model_graph(model, ax, title)
    return figure
