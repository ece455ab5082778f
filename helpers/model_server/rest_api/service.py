"""The TFS REST API (`/v1/models/...`): routes, predict and status, over `rest_api.http`.

Part of the model server taught in notebook 05 and used in notebook 06.
"""

import re
from http import HTTPStatus
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor

from helpers.model_server.core.manager import ModelManager
from helpers.model_server.dataplane.metadata import metadata_response, status_response
from helpers.model_server.dataplane.predict import run_predict
from helpers.model_server.protocol.status import Code, ServingError
from helpers.model_server.rest_api.admin import ADMIN_PREFIX, admin_route
from helpers.model_server.rest_api.bodies import JSON_INPUTS, predict_response
from helpers.model_server.rest_api.http import (
    MAX_CONNECTIONS,
    REQUEST_TIMEOUT_SECONDS,
    DrainingServer,
    JsonHandler,
    start_http_servers,
)

_URL = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d{1,19}))?(?P<action>/metadata|:predict)?$"
)


def rest_predict(manager: ModelManager, name: str, version: int, raw: bytes) -> dict[str, Any]:
    """One REST predict through the shared pipeline, answered in the body's own format."""
    body, outputs, sequence_id = run_predict(manager, name, version, raw, JSON_INPUTS)
    return predict_response(outputs, body, sequence_id)


def rest_status(manager: ModelManager, name: str, version: int) -> dict[str, Any]:
    """GetModelStatus as TFS REST JSON: the gRPC message with proto names and default values."""
    response = status_response(manager, name, version)
    as_dict = json_format.MessageToDict(
        response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return _in_field_order(response.DESCRIPTOR, as_dict)


def _in_field_order(descriptor: Descriptor, as_dict: dict[str, Any]) -> dict[str, Any]:
    """The same dict with its keys in field-number order, as OVMS's C++ JSON printer writes them."""
    # MessageToDict appends the fields that hold their default value (`error_code` OK) last.
    ordered: dict[str, Any] = {}
    for field in descriptor.fields:
        if field.name not in as_dict:
            continue
        value = as_dict[field.name]
        message = field.message_type
        if message is not None and not message.GetOptions().map_entry:
            if field.is_repeated:
                value = [_in_field_order(message, item) for item in value]
            else:
                value = _in_field_order(message, value)
        ordered[field.name] = value
    return ordered


class RestHandler(JsonHandler):
    """Routes `/v1/models/...` requests to predict, metadata and status."""

    manager: ModelManager
    introspection: bool = False  # ours: the /admin/ routes (rest_api/admin.py)

    def do_DELETE(self) -> None:
        """DELETE exists only on the admin routes; elsewhere it is http.server's 501."""
        if self.path.startswith(ADMIN_PREFIX):
            self._handle("DELETE")
        else:
            self.send_error(HTTPStatus.NOT_IMPLEMENTED, f"Unsupported method ({self.command!r})")

    def route(self, method: str) -> dict[str, Any]:
        """Read the body, match the URL and run the matching call."""
        raw = self.read_body()
        path = self.path.split("?", 1)[0]
        if path.startswith(ADMIN_PREFIX):
            host = str(self.client_address[0])
            return admin_route(self.manager, method, path, self.introspection, host)
        match = _URL.match(path)
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
    introspection: bool = False,
) -> list[DrainingServer]:
    """Serve the REST API on every address, each in a background thread."""
    attributes = {"manager": manager, "timeout": timeout, "introspection": introspection}
    handler = type("BoundRestHandler", (RestHandler,), attributes)
    return start_http_servers(handler, addresses, port, max_connections)
