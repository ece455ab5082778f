"""One table of element types: OVMS precision name, TF DataType, numpy dtype, TensorProto field.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12;
`helpers.serving.client` reads it too.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ElementType:
    """How one element type is named and carried by each side of the server."""

    precision: str
    tf_dtype: int
    numpy: np.dtype
    value_field: str


_TABLE: tuple[ElementType, ...] = (
    ElementType("FP32", 1, np.dtype(np.float32), "float_val"),
    ElementType("FP64", 2, np.dtype(np.float64), "double_val"),
    ElementType("I32", 3, np.dtype(np.int32), "int_val"),
    ElementType("U8", 4, np.dtype(np.uint8), "int_val"),
    ElementType("I16", 5, np.dtype(np.int16), "int_val"),
    ElementType("I8", 6, np.dtype(np.int8), "int_val"),
    ElementType("I64", 9, np.dtype(np.int64), "int64_val"),
    ElementType("BOOL", 10, np.dtype(np.bool_), "bool_val"),
    ElementType("U16", 17, np.dtype(np.uint16), "int_val"),
    ElementType("FP16", 19, np.dtype(np.float16), "half_val"),
    ElementType("U32", 22, np.dtype(np.uint32), "uint32_val"),
    ElementType("U64", 23, np.dtype(np.uint64), "uint64_val"),
)

# The element type of each TensorProto value field on the wire: values read from a narrower
# element type's field (U8 from int_val, FP16 bits from half_val) may lie outside that type.
VALUE_FIELD_NUMPY: dict[str, np.dtype] = {
    "float_val": np.dtype(np.float32),
    "double_val": np.dtype(np.float64),
    "int_val": np.dtype(np.int32),
    "int64_val": np.dtype(np.int64),
    "bool_val": np.dtype(np.bool_),
    "half_val": np.dtype(np.int32),
    "uint32_val": np.dtype(np.uint32),
    "uint64_val": np.dtype(np.uint64),
}

BY_TF_DTYPE: dict[int, ElementType] = {t.tf_dtype: t for t in _TABLE}
BY_NUMPY: dict[np.dtype, ElementType] = {t.numpy: t for t in _TABLE}

# OpenVINO's Type.to_dtype() gives the numpy dtype; these are the names OVMS prints for TF dtypes
# it does not serve (so the precision error still names what the client sent).
_OTHER_TF_NAMES: dict[int, str] = {7: "STRING", 14: "BF16", 8: "COMPLEX64"}


def precision_of_tf_dtype(tf_dtype: int) -> str:
    """The OVMS precision name of a TF DataType number, or UNDEFINED."""
    known = BY_TF_DTYPE.get(tf_dtype)
    if known is not None:
        return known.precision
    return _OTHER_TF_NAMES.get(tf_dtype, "UNDEFINED")


# KServe v2 datatype names of OVMS's precisions (kfs_utils.cpp, ovmsPrecisionToKFSPrecision).
KSERVE_DATATYPES: dict[str, str] = {
    "FP64": "FP64",
    "FP32": "FP32",
    "FP16": "FP16",
    "I64": "INT64",
    "I32": "INT32",
    "I16": "INT16",
    "I8": "INT8",
    "U64": "UINT64",
    "U32": "UINT32",
    "U16": "UINT16",
    "U8": "UINT8",
    "BOOL": "BOOL",
}
BY_KSERVE_DATATYPE: dict[str, ElementType] = {
    KSERVE_DATATYPES[t.precision]: t for t in _TABLE if t.precision in KSERVE_DATATYPES
}


def kserve_datatype(element: ElementType) -> str:
    """The KServe datatype name of an element type ("INVALID" when KServe has none, as OVMS)."""
    return KSERVE_DATATYPES.get(element.precision, "INVALID")
