"""The launcher, its status probe and the client helper: real servers, plus pure unit checks."""

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import numpy as np
import pytest

from helpers.models.summator import build_summator
from helpers.paths import REPO_ROOT
from helpers.serving import launcher
from helpers.serving.client import StatefulSequence, predict_request, to_ndarray
from helpers.serving.protocol import PARENT_PID_VARIABLE, STOP_PIPE_VARIABLE, VersionState
from helpers.serving.repository import write_config, write_model_repository
from helpers.serving.status_probe import model_is_available, version_states
from tests.server.support.requests import (
    END,
    START,
    get_model_status_pb2,
    make_ndarray,
    make_tensor_proto,
    model_service_pb2_grpc,
    predict_pb2,
)
from tests.server.support.servers import serve_repository


@pytest.fixture(scope="module")
def cli_server(tmp_path_factory):
    """The summator served from command-line flags (as `launcher.serve_model` serves it)."""
    repository = tmp_path_factory.mktemp("cli_repo")
    models = {"summator": build_summator()}
    with serve_repository(repository, models, model_name="summator") as handle:
        yield handle


def test_article_client_code_runs_unchanged(cli_server):
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    channel = grpc.insecure_channel(cli_server.grpc_address)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    sequence_id, values, got = 10, [1.5, 2.0, 4.0], []
    for i, value in enumerate(values):
        req = predict_pb2.PredictRequest()
        req.model_spec.name = "summator"
        req.inputs["x"].CopyFrom(make_tensor_proto(np.array([[value]], np.float32)))
        if i == 0:
            req.inputs["sequence_control_input"].CopyFrom(
                make_tensor_proto([START], dtype="uint32")
            )
        if i == len(values) - 1:
            req.inputs["sequence_control_input"].CopyFrom(make_tensor_proto([END], dtype="uint32"))
        req.inputs["sequence_id"].CopyFrom(make_tensor_proto([sequence_id], dtype="uint64"))
        response = stub.Predict(req, 10.0)
        got.append(float(make_ndarray(response.outputs["y"])[0, 0]))
    channel.close()
    assert got == np.cumsum(values).tolist()


def test_stateful_sequence_sums_and_ends_its_sequence_on_exit(cli_server):
    values = np.array([3.0, 4.0, 5.0], np.float32)
    with grpc.insecure_channel(cli_server.grpc_address) as channel:
        with StatefulSequence(channel, "summator", "y") as sequence:
            outputs = [sequence.start({"x": values[:1].reshape(1, 1)})]
            outputs += [sequence.step({"x": v.reshape(1, 1)}) for v in values[1:]]
            assert sequence.sequence_id > 0 and sequence.active
            kept_id = sequence.sequence_id
        assert not sequence.active
        assert [float(o[0, 0]) for o in outputs] == np.cumsum(values).tolist()
        # The context manager ended the sequence: a further step says it is missing.
        stub_request = predict_request("summator", {"x": np.zeros((1, 1), np.float32)}, kept_id)
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        with pytest.raises(grpc.RpcError) as caught:
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(stub_request, 10.0)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_handle_stop_ends_the_process(tmp_path):
    handle = launcher.serve_model(build_summator(), "summator", tmp_path, stateful=False)
    assert handle.is_running() and model_is_available(handle.grpc_address, "summator")
    assert handle.pid == handle.process.pid
    handle.stop()
    assert not handle.is_running() and handle.process.returncode is not None
    assert "AVAILABLE" in handle.log_text()


def test_predict_request_uses_tensor_content_and_typed_special_fields():
    req = predict_request("m", {"x": np.array([[2.5]], np.float32)}, sequence_id=9, control=1)
    assert req.inputs["x"].tensor_content == np.array([[2.5]], np.float32).tobytes()
    assert list(req.inputs["sequence_id"].uint64_val) == [9]
    assert list(req.inputs["sequence_control_input"].uint32_val) == [1]
    assert [d.size for d in req.inputs["sequence_id"].tensor_shape.dim] == [1]
    np.testing.assert_array_equal(to_ndarray(req.inputs["x"]), [[2.5]])


class FixedStatus(model_service_pb2_grpc.ModelServiceServicer):
    """A ModelService whose GetModelStatus answers with given (version, state number) pairs."""

    def __init__(self, states: dict[str, list[tuple[int, int]]]) -> None:
        self.states = states

    def GetModelStatus(self, request, context):
        if request.model_spec.name not in self.states:
            context.abort(grpc.StatusCode.NOT_FOUND, "Model with requested name is not found")
        response = get_model_status_pb2.GetModelStatusResponse()
        for version, state in self.states[request.model_spec.name]:
            response.model_version_status.add(version=version, state=state)
        return response


@pytest.fixture(scope="module")
def fixed_status_address() -> Iterator[str]:
    """A fake server: `mixed` has versions in four states, `loading` has none AVAILABLE yet."""
    states = {"mixed": [(1, 50), (2, 30), (300, 20), (7, 40)], "loading": [(1, 10), (2, 20)]}
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(FixedStatus(states), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)


def test_probe_reads_every_version_state(fixed_status_address):
    assert version_states(fixed_status_address, "mixed") == {
        1: VersionState.END,
        2: VersionState.AVAILABLE,
        300: VersionState.LOADING,
        7: VersionState.UNLOADING,
    }
    assert model_is_available(fixed_status_address, "mixed")


def test_probe_without_an_available_version(fixed_status_address):
    states = version_states(fixed_status_address, "loading")
    assert states == {1: VersionState.START, 2: VersionState.LOADING}
    assert not model_is_available(fixed_status_address, "loading")


def test_probe_of_an_unknown_model_or_a_closed_port(fixed_status_address):
    with pytest.raises(grpc.RpcError) as caught:
        version_states(fixed_status_address, "missing")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert not model_is_available(fixed_status_address, "missing")
    assert not model_is_available(f"127.0.0.1:{launcher.free_port()}", "mixed", timeout=0.5)


def test_probe_of_a_real_server_with_a_version_that_fails_to_load(tmp_path):
    write_model_repository(build_summator(), tmp_path, "summator")  # version 1
    for folder in (tmp_path / "summator" / "2", tmp_path / "broken" / "1"):
        folder.mkdir(parents=True)
        (folder / "model.xml").write_text("not an IR")
        (folder / "model.bin").write_bytes(b"")
    every_version = {"all": {}}
    models = [
        {"name": "broken", "base_path": "broken"},
        {"name": "summator", "base_path": "summator", "model_version_policy": every_version},
    ]
    write_config(tmp_path, models)
    args = launcher.model_server_args(tmp_path, config=True)
    with launcher.start_server(tmp_path, ["summator"], args) as handle:
        deadline = time.monotonic() + 30
        while handle.log_text().count("Error occurred while loading model") < 2:
            assert time.monotonic() < deadline, handle.log_text()
            time.sleep(0.05)
        address = handle.grpc_address
        # A version whose load failed stays LOADING, as in OVMS.
        assert version_states(address, "summator") == {
            1: VersionState.AVAILABLE,
            2: VersionState.LOADING,
        }
        assert version_states(address, "broken") == {1: VersionState.LOADING}
        assert model_is_available(address, "summator")
        assert not model_is_available(address, "broken")


def test_importing_the_launcher_imports_no_tensorflow():
    script = "import json, sys, helpers.serving.launcher; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    loaded = {name.split(".")[0] for name in json.loads(result.stdout)}
    assert "helpers" in loaded and not loaded & {"tensorflow", "tensorflow_serving"}


def test_docker_command_for_real_ovms(tmp_path):
    args = launcher.model_server_args(tmp_path, "summator", stateful=True, root="/models")
    command = launcher.docker_command(tmp_path, 9100, 9101, args)
    assert command[:4] == ["docker", "run", "--rm", "-d"]
    assert command[command.index("-u") + 1] == f"{os.getuid()}:{os.getgid()}"
    assert command[command.index("-v") + 1] == f"{tmp_path.resolve()}:/models:ro"
    assert [command[i + 1] for i, t in enumerate(command) if t == "-p"] == [
        "127.0.0.1:9100:9000",
        "127.0.0.1:9101:8000",
    ]
    image = command.index("openvino/model_server:2026.2")
    assert command[image + 1 :] == [
        "--port",
        "9000",
        "--rest_port",
        "8000",
        "--model_name",
        "summator",
        "--model_path",
        "/models/summator",
        "--stateful",
    ]


def test_write_config_writes_one_entry_per_model(tmp_path):
    path = write_config(tmp_path, [{"name": "a", "stateful": True}])
    assert path.read_text().count('"config"') == 1 and path.name == "config.json"


def test_failed_docker_run_fails_at_once_with_its_message(tmp_path, monkeypatch):
    fake = tmp_path / "bin"
    fake.mkdir()
    script = "#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n"
    (fake / "docker").write_text(script)
    (fake / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    running_before = set(launcher._RUNNING)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="Cannot connect to the Docker daemon"):
        launcher.start_server(tmp_path, ["m"], [], use_docker=True, wait_seconds=30)
    assert time.monotonic() - started < 10  # not the 30 s wait for AVAILABLE
    assert set(launcher._RUNNING) == running_before


def test_the_launcher_passes_its_pid_for_the_parent_watch(cli_server):
    environ = Path(f"/proc/{cli_server.pid}/environ").read_bytes().split(b"\0")
    assert f"{PARENT_PID_VARIABLE}={os.getpid()}".encode() in environ


def test_stop_waits_longer_than_the_server_drains():
    from helpers.model_server.server import SHUTDOWN_GRACE_SECONDS

    assert launcher.STOP_TIMEOUT_SECONDS >= SHUTDOWN_GRACE_SECONDS + 5


def test_start_server_on_given_ports(tmp_path):
    grpc_port, rest_port = launcher.free_port(), launcher.free_port()
    while rest_port == grpc_port:
        rest_port = launcher.free_port()
    write_model_repository(build_summator(), tmp_path, "summator")
    args = launcher.model_server_args(tmp_path, "summator", stateful=True)
    handle = launcher.start_server(
        tmp_path, ["summator"], args, grpc_port=grpc_port, rest_port=rest_port
    )
    try:
        assert (handle.grpc_port, handle.rest_port) == (grpc_port, rest_port)
        assert handle.grpc_address == f"127.0.0.1:{grpc_port}"
        assert model_is_available(f"127.0.0.1:{grpc_port}", "summator")
        with urllib.request.urlopen(f"http://127.0.0.1:{rest_port}/v1/models/summator") as reply:
            assert json.loads(reply.read())["model_version_status"][0]["state"] == "AVAILABLE"
    finally:
        handle.stop()


def test_a_restart_on_the_same_port_keeps_the_old_log(tmp_path):
    write_model_repository(build_summator(), tmp_path, "summator")
    args = launcher.model_server_args(tmp_path, "summator", stateful=True)
    grpc_port = launcher.free_port()
    for _ in range(2):
        launcher.start_server(tmp_path, ["summator"], args, grpc_port=grpc_port).stop()
    logs = sorted(p.name for p in tmp_path.glob(f"server-{grpc_port}*.log"))
    assert logs == [f"server-{grpc_port}-2.log", f"server-{grpc_port}.log"]
    assert all((tmp_path / name).read_text() for name in logs)  # neither was truncated


def test_unused_log_path_numbers_the_names_in_use(tmp_path):
    first = launcher.unused_log_path(tmp_path, 9000)
    assert first.name == "server-9000.log"
    first.write_text("the first server's log")
    second = launcher.unused_log_path(tmp_path, 9000)
    second.write_text("")
    third = launcher.unused_log_path(tmp_path, 9000)
    assert len({first, second, third}) == 3 and not third.exists()
    assert first.read_text() == "the first server's log"
    assert launcher.unused_log_path(tmp_path, 9001).name == "server-9001.log"


# Issue #29: a graceful stop without signals, so that Windows gets the drain and the snapshot too.


def test_stop_asks_through_the_pipe_and_the_snapshot_brings_the_sequence_back(tmp_path):
    snapshots = tmp_path / "snapshots"
    extra = ["--sequence_snapshot_path", str(snapshots)]
    values = np.array([2.0, 5.0, -1.5], np.float32)
    handle = launcher.serve_model(build_summator(), "summator", tmp_path, extra_args=extra)
    with grpc.insecure_channel(handle.grpc_address) as channel:
        sequence = StatefulSequence(channel, "summator", "y", sequence_id=77)
        sequence.start({"x": values[:1].reshape(1, 1)})
        sequence.step({"x": values[1:2].reshape(1, 1)})
    handle.stop()
    assert handle.process is not None and handle.process.returncode == 0
    log = handle.log_text()
    assert "The launcher asked to stop; shutting down" in log and "Shutdown complete" in log
    args = launcher.model_server_args(tmp_path, "summator", stateful=True, extra=extra)
    with (
        launcher.start_server(tmp_path, ["summator"], args) as again,
        grpc.insecure_channel(again.grpc_address) as channel,
    ):
        sequence = StatefulSequence(channel, "summator", "y", sequence_id=77)
        sequence.active = True  # restored from the snapshot: no START
        total = sequence.end({"x": values[2:].reshape(1, 1)})
    assert float(total[0, 0]) == float(np.sum(values))


def test_a_closed_stop_pipe_alone_stops_the_server_gracefully(tmp_path):
    """What a killed launcher leaves on Windows, where no pid watch runs: only the pipe closes."""
    write_model_repository(build_summator(), tmp_path, "summator")
    grpc_port, rest_port = launcher.free_port(), launcher.free_port()
    args = launcher.model_server_args(tmp_path, "summator", stateful=True)
    command = launcher.local_server_command(grpc_port, rest_port, args)
    env = {k: v for k, v in os.environ.items() if k != PARENT_PID_VARIABLE}
    env |= {STOP_PIPE_VARIABLE: "1", "PYTHONPATH": str(REPO_ROOT)}
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=env
        )
    try:
        deadline = time.monotonic() + 120
        while not model_is_available(f"127.0.0.1:{grpc_port}", "summator", timeout=0.5):
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        assert process.stdin is not None
        process.stdin.close()
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log_path.read_text()
    assert "The stop pipe closed; shutting down" in text and "Shutdown complete" in text


def test_a_server_started_by_hand_ignores_its_stdin(monkeypatch):
    from helpers.model_server.process import parent_watch

    monkeypatch.delenv(STOP_PIPE_VARIABLE, raising=False)
    monkeypatch.delenv(PARENT_PID_VARIABLE, raising=False)
    assert not parent_watch.watch_parent(threading.Event())
    assert all(thread.name != "stop-pipe" for thread in threading.enumerate())


def test_docker_runs_as_you_where_there_are_user_ids(monkeypatch):
    assert launcher.docker_user() == ["-u", f"{os.getuid()}:{os.getgid()}"]
    monkeypatch.setattr(sys, "platform", "win32")  # Docker Desktop maps the files itself
    assert launcher.docker_user() == []
