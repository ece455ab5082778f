"""Let `ov.convert_model` convert Keras models on Python 3.13 (notebooks 05, 07 and 11 need it).

OpenVINO 2026.4's TensorFlow front end asks `get_environment_setup("tf")` for the TensorFlow
version, and that function runs `exec("import tensorflow")`, then `exec("del tensorflow")`. From
Python 3.13 on, each `exec` inside a function works on a fresh snapshot of its locals (PEP 667),
so the second one raises NameError and every conversion of a Keras or TensorFlow model fails.
`repair_tensorflow_frontend` swaps in the same function without `exec`, only where the original
fails, so an OpenVINO release that fixes it is left alone.
"""

import importlib
import sys
from typing import Any

from openvino.frontend.tensorflow import utils as tf_frontend_utils


def environment_setup(framework: str) -> dict[str, Any]:
    """What OpenVINO's `get_environment_setup` returns: Python, TensorFlow version, platform."""
    setup: dict[str, Any] = {"python_version": "{}.{}.{}".format(*sys.version_info[:3])}
    if framework == "tf":
        try:
            tensorflow = importlib.import_module("tensorflow")
            setup["tensorflow"] = tf_frontend_utils.get_imported_module_version(tensorflow)
        except (AttributeError, ImportError):
            pass
    setup["sys_platform"] = sys.platform
    return setup


def repair_tensorflow_frontend() -> bool:
    """Replace OpenVINO's `get_environment_setup` if it fails here; True when it was replaced."""
    try:
        tf_frontend_utils.get_environment_setup("tf")
    except NameError:
        tf_frontend_utils.get_environment_setup = environment_setup
        return True
    return False
