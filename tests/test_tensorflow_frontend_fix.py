import platform
import sys

import pytest
from openvino.frontend.tensorflow import utils as tf_frontend_utils

import helpers.models.keras_forecaster  # noqa: F401  (applies the repair where it is needed)
from helpers.models.tensorflow_frontend_fix import environment_setup, repair_tensorflow_frontend
from helpers.quiet import native_stderr_silenced

with native_stderr_silenced():
    import tensorflow as tf


def test_the_replacement_reports_what_the_environment_is():
    setup = environment_setup("tf")
    assert setup == {
        "python_version": platform.python_version(),
        "tensorflow": tf.__version__,
        "sys_platform": sys.platform,
    }
    assert "tensorflow" not in environment_setup("onnx")


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="the original fails from Python 3.13 on")
def test_the_replacement_matches_openvinos_own_function_where_that_works():
    assert repair_tensorflow_frontend() is False  # nothing to repair before 3.13
    assert tf_frontend_utils.get_environment_setup("tf") == environment_setup("tf")


def test_after_import_the_frontend_answers_on_this_python():
    assert tf_frontend_utils.get_environment_setup("tf")["tensorflow"] == tf.__version__
