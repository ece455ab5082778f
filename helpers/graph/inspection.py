"""Describe an ov.Model as text: its ops in order, counts by type, LowLatency2's state names.

Taught in notebook 03 (`graph_listing`) and notebook 04 (all four: a TensorIterator before and
after LowLatency2).
"""

import openvino as ov
from openvino.op.util import MergedInputDescription

STATE_OPS: frozenset[str] = frozenset({"ReadValue", "Assign"})


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
