"""The TFS REST API (`/v1/models/...`): routes, predict and status, over `rest_http`."""

import re
from typing import Any

from google.protobuf import json_format

from helpers.model_server.core.manager import ModelManager
from helpers.model_server.protocol.metadata import metadata_response
from helpers.model_server.protocol.predict import run_predict
from helpers.model_server.protocol.status import Code, ServingError
from helpers.model_server.rest_api.bodies import JSON_INPUTS, predict_response
from helpers.model_server.rest_api.http import (
    MAX_CONNECTIONS,
    REQUEST_TIMEOUT_SECONDS,
    DrainingServer,
    JsonHandler,
    start_http_servers,
)
from helpers.serving.protocol import VersionState

_URL = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d{1,19}))?(?P<action>/metadata|:predict)?$"
)


def rest_predict(manager: ModelManager, name: str, version: int, raw: bytes) -> dict[str, Any]:
    """One REST predict through the shared pipeline, answered in the body's own format."""
    body, outputs, sequence_id = run_predict(manager, name, version, raw, JSON_INPUTS)
    return predict_response(outputs, body, sequence_id)


def rest_status(manager: ModelManager, name: str, version: int) -> dict[str, Any]:
    """GetModelStatus as TFS REST JSON."""
    statuses = []
    for entry in manager.status(name, version):
        failed = entry.state == VersionState.LOADING and entry.error
        statuses.append(
            {
                "version": str(entry.version),
                "state": entry.state.name,
                "status": {
                    "error_code": "UNKNOWN" if failed else "OK",
                    "error_message": entry.error if failed else "OK",
                },
            }
        )
    return {"model_version_status": statuses}


class RestHandler(JsonHandler):
    """Routes `/v1/models/...` requests to predict, metadata and status."""

    manager: ModelManager

    def route(self, method: str) -> dict[str, Any]:
        """Read the body, match the URL and run the matching call."""
        raw = self.read_body()
        match = _URL.match(self.path.split("?", 1)[0])
        if match is None:
            raise ServingError(Code.REST_INVALID_URL)
        name, action = match["name"], match["action"]
        version = int(match["version"] or 0)
        if action == ":predict":
            if method != "POST":
                raise ServingError(Code.REST_UNSUPPORTED_METHOD)
            return rest_predict(self.manager, name, version, raw)
        if method != "GET":
            raise ServingError(Code.REST_UNSUPPORTED_METHOD)
        if action == "/metadata":
            response = metadata_response(self.manager.resolve(name, version))
            return json_format.MessageToDict(response)
        return rest_status(self.manager, name, version)


def start_rest_server(
    manager: ModelManager,
    addresses: list[str],
    port: int,
    timeout: float = REQUEST_TIMEOUT_SECONDS,
    max_connections: int = MAX_CONNECTIONS,
) -> list[DrainingServer]:
    """Serve the REST API on every address, each in a background thread."""
    attributes = {"manager": manager, "timeout": timeout}
    handler = type("BoundRestHandler", (RestHandler,), attributes)
    return start_http_servers(handler, addresses, port, max_connections)
