"""The TFS REST API (`/v1/models/...`): routes, predict and status, over `rest_http`."""

import json
import re
from typing import Any

from google.protobuf import json_format

from helpers.model_server.core.manager import ModelManager
from helpers.model_server.protocol.metadata import metadata_response
from helpers.model_server.protocol.special_inputs import extract_sequence_request
from helpers.model_server.protocol.status import Code, ServingError
from helpers.model_server.protocol.validation import check_input_names
from helpers.model_server.rest_api.bodies import cast_input, parse_predict_body, predict_response
from helpers.model_server.rest_api.http import (
    MAX_CONNECTIONS,
    REQUEST_TIMEOUT_SECONDS,
    DrainingServer,
    JsonHandler,
    start_http_servers,
)
from helpers.serving.protocol import SEQUENCE_CONTROL_INPUT, SEQUENCE_ID, VersionState

_URL = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d{1,19}))?(?P<action>/metadata|:predict)?$"
)


def rest_predict(manager: ModelManager, name: str, version: int, raw: bytes) -> dict[str, Any]:
    """One REST predict, in OVMS's order: model, JSON parse, special inputs, validation, run."""
    servable = manager.resolve(name, version)
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise ServingError(Code.JSON_INVALID) from error
    body = parse_predict_body(document, servable.inputs)
    sequence_request = None
    if servable.stateful:
        sequence_request = extract_sequence_request(
            body.special.get(SEQUENCE_ID), body.special.get(SEQUENCE_CONTROL_INPUT)
        )
    check_input_names(servable.inputs, body.names, len(body.special) if servable.stateful else 0)
    arrays = {n: cast_input(spec, body.tensors[n]) for n, spec in servable.inputs.items()}
    if sequence_request is None:
        return predict_response(servable.infer(arrays), body, None)
    outputs, sequence_id = servable.infer_in_sequence(arrays, sequence_request)
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
