"""Optimum-Intel's recipe for a decoder, step by step: SDPA, names, beam_idx, stateful, initializer.

Notebook 07 defines each function in a cell and a test keeps those cells equal to this module;
it mirrors optimum/exporters/openvino/stateful.py without torch. Each function changes the model in
place and returns it.
"""

import numpy as np
import openvino as ov
from openvino import opset13

from helpers.llm.decoder import DecoderConfig, cache_names

LOGITS = "logits"
BEAM_IDX = "beam_idx"


def fuse_attention(ov_model: ov.Model) -> ov.Model:
    """Replace each MatMul-Select-Softmax-MatMul attention by opset13 ScaledDotProductAttention."""
    for softmax in [op for op in ov_model.get_ordered_ops() if op.get_type_name() == "Softmax"]:
        select = softmax.input_value(0).get_node()  # Select(visible, scores * scale, -1e9)
        scaled, hidden = select.input_value(1).get_node(), select.input_value(2)
        # an additive mask (0 or -1e9) keeps fully masked rows (left padding) finite, as in Keras
        mask = opset13.select(select.input_value(0), opset13.constant(np.float32(0)), hidden)
        scores = scaled.input_value(0).get_node()  # MatMul(query, key, transpose_b=True)
        scale = np.float32(scaled.input_value(1).get_node().get_data().item())
        (to_values,) = softmax.output(0).get_target_inputs()
        weighted_sum = to_values.get_node()  # MatMul(softmax, value)
        query, key = scores.input_value(0), scores.input_value(1)
        attention = opset13.scaled_dot_product_attention(
            query, key, weighted_sum.input_value(1), mask, opset13.constant(scale)
        )
        weighted_sum.output(0).replace(attention.output(0))
    ov_model.validate_nodes_and_infer_types()
    return ov_model


def name_ports(ov_model: ov.Model, keras_outputs: list[str], config: DecoderConfig) -> ov.Model:
    """Name the outputs logits, present.{i}.key|value by the Keras output names, not list order."""
    wanted = [LOGITS, *(present for _, present in cache_names(config))]
    for keras_name, name in zip(keras_outputs, wanted, strict=True):
        port = ov_model.output(keras_name)
        port.get_tensor().set_names({name})
        port.get_node().set_friendly_name(name)
    for port in ov_model.inputs:
        port.get_node().set_friendly_name(port.get_any_name())
    return ov_model


def fuse_beam_idx(ov_model: ov.Model, past_names: list[str]) -> ov.Model:
    """Add input beam_idx [batch] (i32) and Gather(past, beam_idx, axis 0) before each cache use."""
    beam_idx = opset13.parameter([-1], ov.Type.i32, name=BEAM_IDX)
    beam_idx.output(0).get_tensor().set_names({BEAM_IDX})
    for past in past_names:
        parameter = ov_model.input(past).get_node()
        consumers = list(parameter.output(0).get_target_inputs())
        gather = opset13.gather(parameter, beam_idx, opset13.constant(0))
        for consumer in consumers:
            consumer.replace_source_output(gather.output(0))
    ov_model.add_parameters([beam_idx])
    ov_model.validate_nodes_and_infer_types()
    return ov_model


def state_map(config: DecoderConfig) -> dict[str, str]:
    """The past -> present tensor-name map that MakeStateful takes."""
    return dict(cache_names(config))


def add_state_initializers(ov_model: ov.Model) -> ov.Model:
    """Give every ReadValue the initializer zeros[B, heads, 0, head_size], B read from input_ids."""
    shape_of_ids = opset13.shape_of(ov_model.input("input_ids"), "i64")
    batch = opset13.gather(shape_of_ids, opset13.constant([0]), opset13.constant(0))
    for op in ov_model.get_ops():
        if op.get_type_name() != "ReadValue":
            continue
        dims = [dim.get_min_length() for dim in op.get_output_partial_shape(0)]
        pieces = [batch] + [opset13.constant(np.array([d], np.int64)) for d in dims[1:]]
        zero = opset13.constant(np.array(0, op.get_output_element_type(0).to_dtype()))
        op.set_arguments([opset13.broadcast(zero, opset13.concat(pieces, 0))])
    ov_model.validate_nodes_and_infer_types()
    return ov_model
