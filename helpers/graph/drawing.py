"""Draw an ov.Model as a layered graph with matplotlib, highlighting ReadValue/Assign.

Taught in notebook 01, which draws the summator with it; notebooks 02, 03, 04 and 07 draw theirs.
"""

import re
from dataclasses import dataclass

import matplotlib.pyplot as plt
import openvino as ov
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path

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


def shown_name(name: str, type_name: str) -> str:
    """The name shown under the type; none for a generated one (Constant_10905 differs per run)."""
    if re.fullmatch(rf"(.*/)?{re.escape(type_name)}_\d+", name):
        return ""
    return name if len(name) <= 16 else name[:15] + "…"


def _points_per_unit(ax: Axes) -> float:
    """How many typographic points one data unit spans once the axes' aspect is applied."""
    ax.apply_aspect()
    (x0, _), (x1, _) = ax.transData.transform([(0.0, 0.0), (1.0, 0.0)])
    return float(x1 - x0) * 72.0 / ax.figure.dpi


def _fitting_font_size(label: str, points_per_unit: float) -> float:
    """The largest font size (at most 8 pt) at which `label`'s lines fit inside a box."""
    lines = label.split("\n")
    widest = max(len(line) for line in lines)
    by_width = 0.92 * BOX_WIDTH * points_per_unit / (0.58 * max(widest, 1))
    by_height = 0.95 * BOX_HEIGHT * points_per_unit / (1.15 * len(lines))
    return min(8.0, by_width, by_height)


def _state_loop_path(assign: PlacedNode, read: PlacedNode, bottom: float, index: int) -> Path:
    """From Assign's right side down to `bottom`, across, and up into ReadValue's left side.

    The vertical legs run in the gaps between columns (the `index`-th loop a little further out),
    so a loop crosses edges but no box, and two loops do not overlap.
    """
    (xa, ya), (xr, yr) = _centre(assign), _centre(read)
    right, left = xa + BOX_WIDTH / 2 + 0.15 + 0.12 * index, xr - BOX_WIDTH / 2 - 0.15 - 0.12 * index
    corners = [(xa + BOX_WIDTH / 2, ya), (right, ya), (right, bottom), (left, bottom), (left, yr)]
    return Path([*corners, (xr - BOX_WIDTH / 2, yr)])


def draw_edge(
    ax: Axes,
    start: tuple[float, float],
    end: tuple[float, float],
    box_width: float,
    mutation_scale: float = 12,
) -> None:
    """An arrow from the right side of the box centred at `start` to the left side of `end`'s."""
    ax.add_patch(
        FancyArrowPatch(
            (start[0] + box_width / 2, start[1]),
            (end[0] - box_width / 2, end[1]),
            arrowstyle="-|>",
            mutation_scale=mutation_scale,
            color="#495057",
        )
    )


def draw_box(
    ax: Axes, centre: tuple[float, float], size: tuple[float, float], type_name: str
) -> FancyBboxPatch:
    """A rounded box centred at `centre`, coloured by the operation type `type_name`."""
    (x, y), (width, height) = centre, size
    box = FancyBboxPatch(
        (x - width / 2, y - height / 2),
        width,
        height,
        boxstyle="round,pad=0.02",
        facecolor=COLOURS.get(type_name, DEFAULT_COLOUR),
        edgecolor="#212529",
    )
    ax.add_patch(box)
    return box


def plot_model_graph(model: ov.Model, ax: Axes, title: str | None = None) -> dict[str, PlacedNode]:
    """Draw `model` on `ax` (data flows left to right; a dashed loop under it is a Variable)."""
    placed = place_nodes(model)
    links = variable_links(model)
    xs = [_centre(n)[0] for n in placed.values()]
    ys = [_centre(n)[1] for n in placed.values()]
    loop_bottoms = [min(ys) - BOX_HEIGHT / 2 - 0.35 - 0.6 * k for k in range(len(links))]
    ax.set_xlim(min(xs) - BOX_WIDTH, max(xs) + BOX_WIDTH)
    ax.set_ylim(min([min(ys) - BOX_HEIGHT, *loop_bottoms]) - 0.45, max(ys) + 0.6)
    ax.set_aspect("equal")
    ax.axis("off")
    points_per_unit = _points_per_unit(ax)
    for op in model.get_ordered_ops():
        for port in op.inputs():
            source = placed[port.get_source_output().get_node().get_friendly_name()]
            draw_edge(ax, _centre(source), _centre(placed[op.get_friendly_name()]), BOX_WIDTH)
    for node in placed.values():
        x, y = _centre(node)
        box = draw_box(ax, (x, y), (BOX_WIDTH, BOX_HEIGHT), node.type_name)
        box.set_linewidth(2.0 if node.type_name in STATE_OPS else 1.0)
        box.set_label(node.name)
        label = "\n".join(filter(None, [node.type_name, shown_name(node.name, node.type_name)]))
        size = _fitting_font_size(label, points_per_unit)
        ax.text(x, y, label, ha="center", va="center", fontsize=size)
    for index, ((assign, read, variable_id), bottom) in enumerate(
        zip(links, loop_bottoms, strict=True)
    ):
        ax.add_patch(
            FancyArrowPatch(
                path=_state_loop_path(placed[assign], placed[read], bottom, index),
                arrowstyle="-|>",
                mutation_scale=14,
                linestyle="--",
                color="#e76f51",
                linewidth=1.6,
            )
        )
        (xa, _), (xr, _) = _centre(placed[assign]), _centre(placed[read])
        ax.text(
            (xa + xr) / 2,
            bottom - 0.06,
            f"variable '{variable_id}' (to the next inference)",
            ha="center",
            va="top",
            fontsize=min(8.0, 0.3 * points_per_unit),
            color="#e76f51",
        )
    if title:
        ax.set_title(title)
    return placed


def model_graph_figure(model: ov.Model, title: str | None = None) -> Figure:
    """Return a new figure with `model` drawn on it, sized to the graph."""
    columns = max(layer_columns(model).values()) + 1
    loops = len(variable_links(model))
    figure, ax = plt.subplots(figsize=(max(6.0, 1.9 * columns), 2.6 + 0.4 * loops))
    plot_model_graph(model, ax, title)
    return figure
