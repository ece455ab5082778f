"""The graph drawing places ops left to right and marks the state loop."""

import matplotlib.pyplot as plt
import openvino as ov
import openvino.opset13 as ops
from matplotlib.patches import FancyBboxPatch

from helpers.graph.drawing import layer_columns, model_graph_figure, variable_links
from helpers.models.summator import build_summator, read_documented_summator


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
