"""The KServe v2 data plane's messages, wire-neutral: requests, results and metadata as dataclasses.

Part of the model server taught in notebook 09. Both KServe front ends build these from their
wire form and encode them back; `kserve.py` runs them, `kserve_validation.py` checks inputs.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

SERVER_NAME = "OpenVINO Model Server"
# OVMS's PROJECT_VERSION: PRODUCT_VERSION "2026.2.1" + "." + the short commit of releases/2026/2.
SERVER_VERSION = "2026.2.1.749fc03a"
PLATFORM = "OpenVINO"
# Triton's sequence extension: a server taking the sequence parameters reports "sequence", and
# "sequence(string_id)" when string ids work too (OVMS reports no extensions).
SEQUENCE_EXTENSIONS = ("sequence", "sequence(string_id)")

# A request parameter value: bool_param, int64_param / uint64_param, string_param, double_param.
ParameterValue = bool | int | str | float


@dataclass(frozen=True)
class KServeInput:
    """One decoded input tensor: name, KServe datatype (`"FP32"`), shape, typed values if any.

    `contents` holds the values of the typed field that matches `datatype` (gRPC
    `contents.fp32_contents` for FP32, REST JSON `data` flattened), possibly empty; None when the
    input has no contents at all (gRPC `HasField("contents")` is false; its data is raw).
    """

    name: str
    datatype: str
    shape: tuple[int, ...]
    contents: Sequence[bool | int | float | bytes] | None = None


@dataclass(frozen=True)
class KServeRequest:
    """One ModelInfer request: model name, version string, id, inputs and parameters.

    `raw_input_contents` are the raw buffers (gRPC `raw_input_contents`, REST binary data), the
    i-th for the i-th input. `outputs` are the requested output names (OVMS returns every output
    anyway). `parameters` are the request-level parameters as plain Python values: bool for
    bool_param, int for int64_param and uint64_param, str for string_param, float for
    double_param.
    """

    model_name: str
    model_version: str = ""
    id: str = ""
    inputs: Sequence[KServeInput] = ()
    outputs: Sequence[str] = ()
    parameters: Mapping[str, ParameterValue] = field(default_factory=dict)
    raw_input_contents: Sequence[bytes] = ()


@dataclass(frozen=True)
class KServeResult:
    """One ModelInfer answer: every model output by name (sorted), the served version, the id.

    `sequence_id` is set for a stateful model under the sequence extension (int or str, as the
    request sent it); front ends return it as the response parameter `sequence_id`. Outputs are
    sent as raw_output_contents, as OVMS does (tritonclient reads only those).
    """

    model_name: str
    model_version: str
    id: str
    outputs: dict[str, np.ndarray]
    sequence_id: int | str | None = None


@dataclass(frozen=True)
class KServeTensorMetadata:
    """One input or output of ModelMetadata: name, KServe datatype, shape (-1 for dynamic)."""

    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class KServeModelMetadata:
    """ModelMetadata: name, ready versions (strings, ascending), platform, tensors by name."""

    name: str
    versions: tuple[str, ...]
    platform: str
    inputs: tuple[KServeTensorMetadata, ...]
    outputs: tuple[KServeTensorMetadata, ...]


@dataclass(frozen=True)
class KServeServerMetadata:
    """ServerMetadata: name, version, and no extensions (ours: SEQUENCE_EXTENSIONS when on)."""

    name: str = SERVER_NAME
    version: str = SERVER_VERSION
    extensions: tuple[str, ...] = ()
