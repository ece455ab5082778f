"""The command line: cxxopts parsing rules, OVMS's validation messages, exit codes."""

import os
import subprocess
import sys

import pytest

from helpers.model_server.config.cli import UsageError, parse_args
from helpers.models.summator import build_summator
from helpers.serving import launcher
from helpers.serving.repository import write_model_repository
from tests.server.support.servers import importable_env, run_server_command

MODEL = ["--model_name", "m", "--model_path", "/tmp/m", "--port", "9000"]
NEED_STATEFUL = (
    "Setting low_latency_transformation, max_sequence_number and idle_sequence_cleanup require "
    "setting stateful flag for the model."
)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([*MODEL, "--low_latency_transformation"], NEED_STATEFUL),
        ([*MODEL, "--max_sequence_number", "5"], NEED_STATEFUL),
        ([*MODEL, "--idle_sequence_cleanup=false"], NEED_STATEFUL),
        (["--config_path", "/c.json", "--port", "9", "--idle_sequence_cleanup"], NEED_STATEFUL),
        (
            [*MODEL, "--config_path", "/c.json"],
            "Use either config_path or model_path with model_name",
        ),
        (["--model_name", "m", "--port", "9000"], "Use config_path or model_path with model_name"),
        (
            ["--config_path", "/c.json", "--port", "9", "--nireq", "2"],
            "Model parameters in CLI are exclusive with the config file",
        ),
        (["--model_name", "m", "--model_path", "/m"], "port and rest_port cannot both be unset"),
        ([*MODEL, "--rest_port", "9000"], "port and rest_port cannot have the same values"),
        (
            [*MODEL, "--log_level", "LOUD"],
            "log_level should be one of: TRACE, DEBUG, INFO, WARNING, ERROR",
        ),
        (
            [*MODEL, "--grpc_workers", "0"],
            f"grpc_workers count should be from 1 to CPU core count : {os.cpu_count()}",
        ),
        (
            [*MODEL, "--stateful", "--idle_sequence_cleanup", "false"],
            "error parsing options - unmatched arguments: false, ",
        ),
        ([*MODEL, "--nope"], "error parsing options: Option \u2018nope\u2019 does not exist"),
        (
            [*MODEL, "--rest_port", "-1"],
            "error parsing options: Argument \u2018-1\u2019 failed to parse",
        ),
        (
            [*MODEL, "--stateful=maybe"],
            "error parsing options: Argument \u2018maybe\u2019 failed to parse",
        ),
    ],
)
def test_invalid_command_lines_get_the_ovms_messages(argv, message):
    with pytest.raises(UsageError) as caught:
        parse_args(argv)
    assert str(caught.value) == message


def test_stateful_flags_parse_like_cxxopts():
    args = [*MODEL, "--stateful", "--idle_sequence_cleanup=false", "--low_latency_transformation"]
    settings = parse_args(
        [*args, "--max_sequence_number", "52", "--sequence_cleaner_poll_wait_minutes", "7"]
    )
    assert settings.stateful is True and settings.idle_sequence_cleanup is False
    assert settings.low_latency_transformation is True and settings.max_sequence_number == 52
    assert settings.cleaner_interval_seconds == 7 * 60


def test_defaults_and_config_mode_accepts_stateful_flags():
    settings = parse_args(MODEL)
    assert (settings.rest_port, settings.grpc_bind_address, settings.rest_bind_address) == (
        0,
        "127.0.0.1",
        "127.0.0.1",
    )
    assert (settings.max_sequence_number, settings.idle_sequence_cleanup, settings.stateful) == (
        500,
        True,
        False,
    )
    assert settings.cleaner_interval_seconds == 300 and settings.file_system_poll_wait_seconds == 1
    config = parse_args(
        ["--config_path", "/c.json", "--port", "9", "--stateful", "--max_sequence_number=3"]
    )
    assert config.config_path == "/c.json"
    assert (
        parse_args([*MODEL, "--sequence_cleaner_poll_wait_seconds", "2"]).cleaner_interval_seconds
        == 2
    )


def test_usage_error_exits_64_with_the_message_on_stderr():
    result = run_server_command(
        "--model_name",
        "m",
        "--model_path",
        "/m",
        "--port",
        "9",
        "--stateful=0",
        "--max_sequence_number",
        "4",
    )
    assert result.returncode == 64
    assert result.stderr.strip() == NEED_STATEFUL


def test_auto_shape_on_a_stateful_model_stops_startup(tmp_path):
    write_model_repository(build_summator(), tmp_path, "summator")
    args = launcher.model_server_args(
        tmp_path, "summator", stateful=True, extra=["--shape", "auto"]
    )
    result = run_server_command("--port", str(launcher.free_port()), *args)
    assert result.returncode == 1
    assert (
        "Dynamic shape and dynamic batch size are not supported for stateful models"
        in result.stderr
    )
    assert "Couldn't start model manager" in result.stderr


def test_server_process_does_not_import_tensorflow():
    code = (
        "import sys, helpers.model_server.__main__ as m\n"
        "m.install_light_tensorflow_namespace()\n"
        "from helpers.model_server.protocol.protos import prediction_service_pb2_grpc as p\n"
        "from tensorflow_serving.apis import prediction_service_pb2 as s\n"
        "tf = sys.modules['tensorflow']\n"
        "print(getattr(tf, '__file__', None), 'tensorflow.python' in sys.modules,\n"
        "      s.DESCRIPTOR.services_by_name['PredictionService'].full_name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=importable_env(),
    )
    assert result.stdout.split() == ["None", "False", "tensorflow.serving.PredictionService"]


def test_kserve_sequence_extension_is_an_off_by_default_server_flag_in_both_modes():
    assert parse_args(MODEL).kserve_sequence_extension is False
    assert parse_args([*MODEL, "--kserve_sequence_extension"]).kserve_sequence_extension is True
    config = ["--config_path", "/c.json", "--port", "9"]
    assert parse_args([*config, "--kserve_sequence_extension=true"]).kserve_sequence_extension
    assert not parse_args([*config, "--kserve_sequence_extension=0"]).kserve_sequence_extension
    with pytest.raises(UsageError) as caught:
        parse_args([*MODEL, "--kserve_sequence_extension=maybe"])
    assert str(caught.value) == "error parsing options: Argument \u2018maybe\u2019 failed to parse"
