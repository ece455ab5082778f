"""The TFS REST API: `/v1/models/...` (predict, metadata, status) and `/v1/config`, as OVMS 2026.2.

Part of the model server taught in notebook 09. `bodies.py` reads and writes the predict bodies;
`service.py` matches the URLs and answers them.
"""

import json
import re
from functools import partial
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor

from helpers.model_server.core.manager import ModelManager
from helpers.model_server.dataplane.metadata import metadata_response, status_response
from helpers.model_server.dataplane.predict import run_predict
from helpers.model_server.protocol.status import Code, ServingError
from helpers.model_server.rest_api.routing import Reply, Request, Route, error_reply, json_route
from helpers.model_server.rest_api.tfs.bodies import JSON_INPUTS, predict_response

TFS_METHODS = ("GET", "POST")
CONFIG_STATUS_PATH = "/v1/config"
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


def config_status_text(manager: ModelManager) -> str:
    """`GET /v1/config` as OVMS writes it: each model's GetModelStatus JSON (1-space indent) under
    its name, models by name, `{}` when none; a model without versions is left out."""
    parts = []
    for name in sorted(manager.models):
        if not manager.status(name):
            continue
        status = json.dumps(rest_status(manager, name, 0), indent=1)
        parts.append(f'"{name}" : \n{status}')
    return "{\n" + ",\n".join(parts) + "\n}" if parts else "{}"


def config_status_route(manager: ModelManager) -> Route:
    """The `/v1/config` prefix: GET is the config status; other methods and longer paths get
    OVMS's errors."""

    def route(request: Request) -> Reply:
        if request.path != CONFIG_STATUS_PATH:
            return tfs_route(request)
        if request.method not in TFS_METHODS:
            return tfs_route(request)  # the TFS API's own answer to an unknown method
        if request.method != "GET":
            error = ServingError(Code.REST_UNSUPPORTED_METHOD)
            return error_reply(error.code.http_code, str(error))
        return Reply(200, config_status_text(manager).encode())

    tfs_route = json_route(partial(tfs_answer, manager), TFS_METHODS)
    return route


def tfs_answer(manager: ModelManager, request: Request) -> dict[str, Any]:
    """Match a `/v1/models/...` URL and run the matching call (GET and POST)."""
    match = _URL.match(request.path)
    if match is None:
        raise ServingError(Code.REST_INVALID_URL)
    name, action = match["name"], match["action"]
    version = int(match["version"] or 0)
    if action == ":predict":
        if request.method != "POST":
            raise ServingError(Code.REST_UNSUPPORTED_METHOD)
        return rest_predict(manager, name, version, request.body)
    if request.method != "GET":
        raise ServingError(Code.REST_UNSUPPORTED_METHOD)
    if action == "/metadata":
        response = metadata_response(manager.resolve(name, version))
        return json_format.MessageToDict(response)
    return rest_status(manager, name, version)
