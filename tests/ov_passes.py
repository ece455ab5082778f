"""Run OpenVINO transformations on a model in one call, for the tests."""

import openvino as ov
from openvino import passes


def run_passes(model: ov.Model, *transformations: passes.ModelPass) -> ov.Model:
    """Register `transformations` in order, run them on `model` (in place) and return it."""
    manager = passes.Manager()
    for transformation in transformations:
        manager.register_pass(transformation)
    manager.run_passes(model)
    return model
