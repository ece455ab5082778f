"""rpc_failure and rest_call, against a fake RpcError and a stdlib HTTP server on loopback."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import pytest

from helpers.serving.calls import rest_call, rpc_failure


class FakeRpcError(grpc.RpcError):
    """What a failed unary call raises: an RpcError that is also a grpc.Call."""

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.NOT_FOUND

    def details(self) -> str:
        return "Sequence with provided ID does not exist"


def test_rpc_failure_returns_code_name_and_details():
    def failing() -> None:
        raise FakeRpcError()

    assert rpc_failure(failing) == ("NOT_FOUND", "Sequence with provided ID does not exist")


def test_rpc_failure_refuses_a_call_that_succeeds():
    with pytest.raises(AssertionError, match="succeeded"):
        rpc_failure(lambda: 42)


def test_rpc_failure_lets_other_exceptions_through():
    def broken() -> None:
        raise ValueError("not an RPC error")

    with pytest.raises(ValueError, match="not an RPC error"):
        rpc_failure(broken)


class EchoHandler(BaseHTTPRequestHandler):
    """GET /ok -> 200 {"path": ...}; GET anything else -> 404 error; POST echoes the body + 1."""

    def _reply(self, status: int, document: object) -> None:
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        if self.path == "/ok":
            self._reply(200, {"path": self.path})
        else:
            self._reply(404, {"error": "Model with requested name is not found"})

    def do_DELETE(self) -> None:
        self._reply(200, {"deleted": self.path})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        kind = self.headers["Content-Type"]
        self._reply(200, {"value": body["value"] + 1, "content_type": kind})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_rest_call_get_returns_status_and_json(base_url):
    assert rest_call(base_url + "/ok") == (200, {"path": "/ok"})


def test_rest_call_post_sends_json(base_url):
    status, document = rest_call(base_url + "/post", {"value": 41})
    assert status == 200
    assert document == {"value": 42, "content_type": "application/json"}


def test_rest_call_returns_http_errors_with_their_json_body(base_url):
    status, document = rest_call(base_url + "/missing")
    assert (status, document) == (404, {"error": "Model with requested name is not found"})


def test_rest_call_sends_the_method_it_is_given(base_url):
    assert rest_call(base_url + "/sequences/70", method="DELETE") == (
        200,
        {"deleted": "/sequences/70"},
    )
