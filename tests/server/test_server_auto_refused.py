"""A stateful model with `auto` batch size or shape is not served at all, as in OVMS: its name is
unknown to status, metadata and predict over gRPC and REST; the other models serve."""

from collections.abc import Iterator

import grpc
import pytest

from helpers.models.summator import build_summator
from helpers.serving import launcher
from tests.server.support.requests import (
    START,
    get_model_status_pb2,
    model_service_pb2_grpc,
    output,
    predict,
    predict_error,
    request,
    rest,
    summator_rest_inputs,
    summator_x,
)
from tests.server.support.servers import serve_repository

NOT_FOUND = "Model with requested name is not found"
REFUSED = ["batch_auto", "shape_auto", "shape_map_auto"]
CONFIG: list[dict[str, object]] = [
    {"name": "summator", "stateful": True},
    {"name": "batch_auto", "base_path": "summator", "stateful": True, "batch_size": "auto"},
    {"name": "shape_auto", "base_path": "summator", "stateful": True, "shape": "auto"},
    {"name": "shape_map_auto", "base_path": "summator", "stateful": True, "shape": {"x": "auto"}},
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[launcher.ServerHandle]:
    """The summator, and three stateful entries over it that ask for `auto`."""
    with serve_repository(
        tmp_path_factory.mktemp("auto"),
        {"summator": build_summator()},
        CONFIG,
        available=["summator"],
        file_poll_seconds=0,
    ) as handle:
        yield handle


@pytest.mark.parametrize("name", REFUSED)
def test_grpc_status_and_predict_do_not_know_the_model(server, name):
    with grpc.insecure_channel(server.grpc_address) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        status_request = get_model_status_pb2.GetModelStatusRequest()
        status_request.model_spec.name = name
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetModelStatus(status_request, timeout=10)
        assert (caught.value.code(), caught.value.details()) == (
            grpc.StatusCode.NOT_FOUND,
            NOT_FOUND,
        )
        assert predict_error(channel, request(name, summator_x(1.0), 1, START)) == (
            grpc.StatusCode.NOT_FOUND,
            NOT_FOUND,
        )
        # The model that shares its files serves.
        assert (
            output(
                predict(
                    channel, request("summator", summator_x(2.0), REFUSED.index(name) + 1, START)
                )
            )[0, 0]
            == 2.0
        )


@pytest.mark.parametrize("name", REFUSED)
def test_rest_status_metadata_and_predict_do_not_know_the_model(server, name):
    for path in (f"/v1/models/{name}", f"/v1/models/{name}/metadata"):
        assert rest(server.rest_url, path) == (404, {"error": NOT_FOUND})
    body = {"inputs": summator_rest_inputs(1.0, 5, START)}
    assert rest(server.rest_url, f"/v1/models/{name}:predict", body) == (404, {"error": NOT_FOUND})


def test_the_log_says_why(server):
    log = server.log_text()
    for name in REFUSED:
        assert (
            f"Requested setting dynamic parameters for stateful model {name}. Dynamic shape and "
            "dynamic batch size not supported for stateful models." in log
        )
    assert "Dynamic shape and dynamic batch size are not supported for stateful models" in log
