"""The graph drawing places ops left to right, marks the state loops and keeps labels readable."""

import itertools
import re

import matplotlib.pyplot as plt
import numpy as np
import openvino as ov
import openvino.opset13 as ops
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from helpers.graph.drawing import (
    layer_columns,
    model_graph_figure,
    plot_model_graph,
    shown_name,
    variable_links,
)
from helpers.models.summator import build_summator, make_variable, read_documented_summator


def test_columns_follow_data_flow_for_every_edge(core):
    model = read_documented_summator(core)
    columns = layer_columns(model)
    for op in model.get_ordered_ops():
        for port in op.inputs():
            parent = port.get_source_output().get_node().get_friendly_name()
            assert columns[parent] < columns[op.get_friendly_name()]


def test_variable_link_pairs_assign_with_its_read_value(core):
    assert variable_links(read_documented_summator(core)) == [("save", "read", "id")]
    assert variable_links(build_summator(variable_id="acc")) == [("save_sum", "read_sum", "acc")]


def test_state_ops_are_drawn_highlighted():
    model = build_summator()
    figure = model_graph_figure(model)
    boxes = [p for p in figure.axes[0].patches if isinstance(p, FancyBboxPatch)]
    assert len(boxes) == len(model.get_ordered_ops())
    thick = sorted(p.get_label() for p in boxes if p.get_linewidth() > 1.5)
    assert thick == ["read_sum", "save_sum"]
    plt.close(figure)


def test_nodes_shared_with_another_model_do_not_break_the_layout():
    model = build_summator()
    x = model.get_parameters()[0]
    total = model.get_results()[0].input_value(0).get_node()
    ov.Model([ops.result(total)], [x], "sharing")  # adds a consumer outside `model`
    columns = layer_columns(model)
    assert set(columns) == {op.get_friendly_name() for op in model.get_ordered_ops()}


def two_variable_model() -> ov.Model:
    """Two running sums of one input; their Constants and Assigns keep generated names."""
    x = ops.parameter([1, 1], np.float32, name="x")
    results, sinks = [], []
    for variable_id in ("a", "b"):
        variable = make_variable(variable_id)
        init = ops.constant(np.zeros((1, 1), np.float32))
        total = ops.add(ops.read_value(init, variable), x)
        results.append(ops.result(total, name=variable_id))
        sinks.append(ops.assign(total, variable))
    return ov.Model(results, sinks, [x], "two_sums")


def drawn(model: ov.Model, size: tuple[float, float]):
    figure, ax = plt.subplots(figsize=size)
    plot_model_graph(model, ax)
    figure.canvas.draw()
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    loops = [p for p in ax.patches if isinstance(p, FancyArrowPatch) and p.get_linestyle() == "--"]
    return figure, ax, boxes, loops


def test_generated_names_are_not_shown_and_given_names_are():
    assert shown_name("Constant_10905", "Constant") == ""
    assert shown_name("cell/Constant_7", "Constant") == ""
    assert shown_name("read_sum", "ReadValue") == "read_sum"
    figure, ax, _, _ = drawn(two_variable_model(), (8, 4))
    texts = [t.get_text() for t in ax.texts]
    assert not any(re.search(r"_\d+", text) for text in texts), texts
    assert "Parameter\nx" in texts
    plt.close(figure)


def test_every_label_fits_inside_its_box_even_in_a_small_axes():
    for size in [(8, 4), (4, 1.5)]:
        figure, ax, boxes, _ = drawn(two_variable_model(), size)
        renderer = figure.canvas.get_renderer()
        box_extents = [b.get_window_extent(renderer) for b in boxes]
        for text in ax.texts:
            if "variable" in text.get_text():
                continue
            extent = text.get_window_extent(renderer)
            assert any(
                b.x0 <= extent.x0 and extent.x1 <= b.x1 and b.y0 <= extent.y0 and extent.y1 <= b.y1
                for b in box_extents
            ), (text.get_text(), size)
        plt.close(figure)


def test_state_loops_run_below_and_between_the_boxes_without_overlapping():
    figure, _, boxes, loops = drawn(two_variable_model(), (8, 4))
    assert len(loops) == 2
    lowest_box = min(b.get_y() for b in boxes)
    legs = []
    for loop in loops:
        vertices = loop.get_path().vertices
        assert vertices[:, 1].min() < lowest_box  # the crossing runs under every box
        steps = itertools.pairwise(vertices)
        legs += [x for (x, y0), (x1, y1) in steps if x == x1 and y0 != y1]
        for b in boxes:  # no vertical leg passes through a box
            assert not any(b.get_x() < x < b.get_x() + b.get_width() for x in legs)
    assert len(set(legs)) == len(legs)  # the two loops' legs are apart
    plt.close(figure)
