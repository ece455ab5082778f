"""Ours: Triton's sequence control inputs (`sequence_batching.control_input`) in config.json.

A control input is a model input that the server fills on every step of a sequence: START, END
and READY with one of two configured values (false, true), CORRID with the sequence's id. Written
as Triton writes them, inside the model's `sequence_batching` object:
`{"name": "START", "control": [{"kind": "CONTROL_SEQUENCE_START", "int32_false_true": [0, 1]}]}`.
What the model must be able to take is checked at load (`core/control_filler.py`).
"""

from dataclasses import dataclass

START, END, READY, CORRID = (
    "CONTROL_SEQUENCE_START",
    "CONTROL_SEQUENCE_END",
    "CONTROL_SEQUENCE_READY",
    "CONTROL_SEQUENCE_CORRID",
)
FLAG_KINDS = (START, END, READY)
# The value fields of a flag kind, and the element type each needs (OpenVINO's names).
FLAG_FIELDS = {"int32_false_true": "i32", "fp32_false_true": "f32", "bool_false_true": "boolean"}
# CORRID's data types and the element type each needs. TYPE_STRING is not served (see README).
CORRID_TYPES = {
    "TYPE_UINT64": "u64",
    "TYPE_INT64": "i64",
    "TYPE_UINT32": "u32",
    "TYPE_INT32": "i32",
}


class ControlInputError(ValueError):
    """A control_input entry is malformed; the message names the entry and the problem."""


@dataclass(frozen=True)
class ControlInput:
    """One control input: the model input's name, its kind, and what it is filled with.

    `element` is the OpenVINO element type the input must have; `false_true` the two values of a
    flag kind (None for CORRID).
    """

    name: str
    kind: str
    element: str
    false_true: tuple[float | int | bool, float | int | bool] | None = None


def _control(name: str, entry: object) -> ControlInput:
    """One `control` object of the input `name`."""
    if not isinstance(entry, dict) or "kind" not in entry:
        raise ControlInputError(f"control_input {name}: each control needs a kind")
    kind = entry["kind"]
    if kind in FLAG_KINDS:
        fields = [key for key in FLAG_FIELDS if key in entry]
        if len(fields) != 1 or set(entry) != {"kind", *fields}:
            raise ControlInputError(
                f"control_input {name}: {kind} needs exactly one of "
                f"{', '.join(FLAG_FIELDS)} (and nothing else)"
            )
        pair = entry[fields[0]]
        expected = bool if fields[0] == "bool_false_true" else (int, float)
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(v, expected) for v in pair)
            or (expected is not bool and any(isinstance(v, bool) for v in pair))
            or (fields[0] == "int32_false_true" and not all(isinstance(v, int) for v in pair))
        ):
            raise ControlInputError(
                f"control_input {name}: {fields[0]} must be a list of two values of its type"
            )
        return ControlInput(name, kind, FLAG_FIELDS[fields[0]], (pair[0], pair[1]))
    if kind == CORRID:
        data_type = entry.get("data_type")
        if set(entry) != {"kind", "data_type"} or data_type not in CORRID_TYPES:
            raise ControlInputError(
                f"control_input {name}: {CORRID} needs a data_type, one of "
                f"{', '.join(CORRID_TYPES)} (TYPE_STRING is not served here)"
            )
        return ControlInput(name, kind, CORRID_TYPES[data_type])
    raise ControlInputError(f"control_input {name}: unknown kind {kind!r}")


def parse_control_inputs(value: object) -> tuple[ControlInput, ...]:
    """The `control_input` list of a `sequence_batching` object, or ControlInputError."""
    if not isinstance(value, list):
        raise ControlInputError("control_input must be a list")
    controls: list[ControlInput] = []
    for entry in value:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ControlInputError("each control_input needs a name")
        name = entry["name"]
        control = entry.get("control")
        if set(entry) != {"name", "control"} or not isinstance(control, list) or len(control) != 1:
            raise ControlInputError(f"control_input {name}: needs exactly one control")
        if any(c.name == name for c in controls):
            raise ControlInputError(f"control_input {name}: named twice")
        controls.append(_control(name, control[0]))
    kinds = [c.kind for c in controls]
    for kind in set(kinds):
        if kinds.count(kind) > 1:
            raise ControlInputError(f"control_input: {kind} is given to more than one input")
    return tuple(controls)
