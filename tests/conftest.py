"""Shared fixtures: one OpenVINO Core (pinned to f32) and a non-interactive matplotlib backend."""

import matplotlib
import openvino as ov
import pytest

matplotlib.use("Agg")


@pytest.fixture(scope="session")
def core() -> ov.Core:
    """One Core for the whole session (creating one per test is slow), pinned to f32.

    On CPUs with native bfloat16 (AMX / AVX-512 BF16) the CPU plugin computes in bfloat16 by
    default, and in f16 on ARM, which moves LSTM outputs by about 1e-3; the tests compare with
    NumPy and Keras at 1e-5. A core-level property applies to every later `compile_model`.
    """
    core = ov.Core()
    core.set_property("CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return core
