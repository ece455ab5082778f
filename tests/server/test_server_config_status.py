"""`GET /v1/config` (OVMS's config status, the OVMS benchmark client's `-l`), byte for byte as
OVMS 2026.2 writes it (the layout of its own serializeModelsStatuses2Json tests)."""

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from helpers.models.summator import build_summator
from helpers.serving import launcher
from tests.server.support.models import build_dummy
from tests.server.support.servers import serve_repository

AVAILABLE_V1 = """{
 "model_version_status": [
  {
   "version": "1",
   "state": "AVAILABLE",
   "status": {
    "error_code": "OK",
    "error_message": "OK"
   }
  }
 ]
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[launcher.ServerHandle]:
    """Two models, one of them stateful."""
    models = {"summator": build_summator(), "dummy": build_dummy()}
    config = [{"name": "summator", "stateful": True}, {"name": "dummy"}]
    with serve_repository(
        tmp_path_factory.mktemp("config_status"), models, config, file_poll_seconds=0
    ) as handle:
        yield handle


def call(server: launcher.ServerHandle, method: str, path: str) -> tuple[int, str]:
    """One REST call: (status, body text)."""
    data = b"{}" if method == "POST" else None
    req = urllib.request.Request(server.rest_url + path, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            assert response.headers["Content-Type"] == "application/json"
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_config_status_lists_every_model_as_ovms_writes_it(server):
    status, body = call(server, "GET", "/v1/config")
    assert status == 200
    assert body == '{\n"dummy" : \n' + AVAILABLE_V1 + ',\n"summator" : \n' + AVAILABLE_V1 + "\n}"
    assert json.loads(body)["summator"] == json.loads(call(server, "GET", "/v1/models/summator")[1])


def test_config_status_answers_get_only_and_its_path_only(server):
    assert call(server, "POST", "/v1/config") == (405, json.dumps({"error": "Unsupported method"}))
    assert call(server, "GET", "/v1/configs") == (404, json.dumps({"error": "Invalid request URL"}))
