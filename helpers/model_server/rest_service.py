"""The TFS REST front end on the standard library's threading HTTP server."""

import json
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format

from helpers.model_server.manager import ModelManager, VersionState
from helpers.model_server.metadata import metadata_response
from helpers.model_server.rest_json import cast_input, parse_predict_body, predict_response
from helpers.model_server.special_inputs import (
    SEQUENCE_CONTROL_INPUT,
    SEQUENCE_ID,
    extract_sequence_request,
)
from helpers.model_server.status import Code, ServingError
from helpers.model_server.validation import check_input_names

log = logging.getLogger("model_server.rest")

MAX_BODY_BYTES = 64 * 1024 * 1024
_URL = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?(?P<action>/metadata|:predict)?$"
)


def rest_predict(manager: ModelManager, name: str, version: int, raw: bytes) -> dict[str, Any]:
    """One REST predict, in OVMS's order: model, JSON parse, special inputs, validation, run."""
    servable = manager.resolve(name, version)
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
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


class RestHandler(BaseHTTPRequestHandler):
    """Routes `/v1/models/...` requests; every error is `{"error": "..."}`."""

    protocol_version = "HTTP/1.1"
    server_version = "helpers.model_server"
    manager: ModelManager

    def do_GET(self) -> None:
        """Status or metadata."""
        self._handle("GET")

    def do_POST(self) -> None:
        """Predict."""
        self._handle("POST")

    def log_message(self, format: str, *args: Any) -> None:
        """Access log at DEBUG level only."""
        log.debug("%s - %s", self.address_string(), format % args)

    def _handle(self, method: str) -> None:
        """Dispatch, turning ServingError into its HTTP code and JSON error body."""
        try:
            self._reply(200, self._route(method))
        except ServingError as error:
            self._reply(error.code.http_code, {"error": str(error)})
        except Exception:
            log.exception("Unexpected error in REST request")
            self._reply(500, {"error": Code.INTERNAL_ERROR.message})

    def _route(self, method: str) -> dict[str, Any]:
        """Match the URL and run the matching call."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            raise ServingError(Code.REST_PAYLOAD_TOO_LARGE)
        raw = self.rfile.read(length) if length else b""
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

    def _reply(self, code: int, body: dict[str, Any]) -> None:
        """Send a JSON response with a Content-Length (keep-alive friendly)."""
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    """Threading HTTP server whose request threads never block shutdown."""

    daemon_threads = True


def start_rest_server(manager: ModelManager, addresses: list[str], port: int) -> list[_Server]:
    """Serve REST on every address, each in a background thread."""
    handler = type("BoundRestHandler", (RestHandler,), {"manager": manager})
    servers = []
    for address in addresses:
        server = _Server((address, port), handler)
        threading.Thread(target=server.serve_forever, name=f"rest-{address}", daemon=True).start()
        servers.append(server)
    return servers
