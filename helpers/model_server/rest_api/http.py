"""HTTP/1.1 for a JSON API on the standard library: strict framing, JSON errors, keep-alive,
a cap on open connections, and a stop that drains the requests in flight.

Part of the model server taught in notebook 05 and used in notebook 06.
"""

import contextlib
import io
import json
import logging
import re
import socket
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from helpers.model_server.protocol.status import Code, ServingError

log = logging.getLogger("model_server.rest")

MAX_BODY_BYTES = 64 * 1024 * 1024
# A client that sends nothing for this long (mid-request or on an idle kept-alive connection) is
# dropped, so a stalled client cannot hold a thread forever.
REQUEST_TIMEOUT_SECONDS = 60.0
# On shutdown, requests in flight get this long to finish before the listening socket closes.
DRAIN_SECONDS = 5.0
# Each open connection holds a thread, idle kept-alive ones included, for up to the timeout above.
MAX_CONNECTIONS = 256
_TOO_MANY = json.dumps({"error": "Too many open connections; try again later"}).encode()
TOO_MANY_CONNECTIONS = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(_TOO_MANY)}\r\nConnection: close\r\n\r\n".encode()
    + _TOO_MANY
)
TRANSFER_ENCODING_UNSUPPORTED = (
    "Transfer-Encoding is not supported; send the body with a Content-Length header"
)
INVALID_CONTENT_LENGTH = "Content-Length must be one non-negative integer"
BODY_TRUNCATED = "Request body is shorter than its Content-Length"
MALFORMED_HEADERS = "Malformed request headers"
HTTP_09_UNSUPPORTED = "HTTP/0.9 requests are not supported"
_DIGITS = re.compile(r"[0-9]+")
_MAX_LENGTH_DIGITS = 18  # longer numbers exceed MAX_BODY_BYTES (and int() refuses huge ones)


class HttpError(Exception):
    """A request refused at the HTTP level (before OVMS's checks); the connection is closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class JsonError(Exception):
    """A request answered with this HTTP status and `{"error": message}`; the connection stays."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ClientGone(Exception):
    """The client reset, closed or stalled while sending its body: no reply is possible."""


class JsonHandler(BaseHTTPRequestHandler):
    """GET and POST answered with JSON by `route`; every error is `{"error": "..."}`."""

    protocol_version = "HTTP/1.1"
    server_version = "helpers.model_server"
    timeout = REQUEST_TIMEOUT_SECONDS
    server: "DrainingServer"
    rfile: io.BufferedReader  # makefile("rb") with the default buffering (rbufsize -1)

    def route(self, method: str) -> dict[str, Any]:
        """The JSON answer to one request (subclasses read the body with `read_body`)."""
        raise NotImplementedError

    def handle(self) -> None:
        """Serve the connection's requests, each counted in flight for the shutdown drain."""
        self.close_connection = True
        try:
            self.handle_one_request()  # counted from accept (see _Server.process_request)
        finally:
            self.server.request_finished()
        while not self.close_connection and self._next_request_arrived():
            self.server.request_started()
            try:
                self.handle_one_request()
            finally:
                self.server.request_finished()

    def _next_request_arrived(self) -> bool:
        """Wait (up to the socket timeout) for the next request on a kept-alive connection."""
        if self.server.draining:
            return False
        try:
            return bool(self.rfile.peek(1))
        except OSError:  # timeouts and resets included
            return False

    def parse_request(self) -> bool:
        """http.server's parsing, refusing HTTP/0.9 and header blocks it could only half read."""
        if not super().parse_request():
            return False
        if self.request_version == "HTTP/0.9":
            self.send_error(HTTPStatus.BAD_REQUEST, HTTP_09_UNSUPPORTED)
            return False
        if self.headers.defects or self.headers.get_payload():
            self.send_error(HTTPStatus.BAD_REQUEST, MALFORMED_HEADERS)
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (request line, headers, method) as JSON; then close."""
        if self.request_version in ("", "HTTP/0.9"):
            self.request_version = "HTTP/1.0"  # so that a status line and headers are sent
        self.close_connection = True
        try:
            text = message or HTTPStatus(code).phrase
        except ValueError:
            text = f"HTTP error {code}"
        self.log_error("code %d, message %s", code, text)
        self._send_json(code, {"error": text})

    def do_GET(self) -> None:
        """A GET request."""
        self._handle("GET")

    def do_POST(self) -> None:
        """A POST request."""
        self._handle("POST")

    def log_message(self, format: str, *args: Any) -> None:
        """Access log at DEBUG level only."""
        log.debug("%s - %s", self.address_string(), format % args)

    def _handle(self, method: str) -> None:
        """Answer one request, or drop the connection if the client is gone."""
        try:
            status, body = self._respond(method)
        except ClientGone as error:
            log.debug("REST client %s went away mid-request: %s", self.address_string(), error)
            self.close_connection = True
            return
        self._send_json(status, body)

    def _respond(self, method: str) -> tuple[int, dict[str, Any]]:
        """The HTTP status and JSON body: ServingError gives its HTTP code and message."""
        try:
            return 200, self.route(method)
        except ServingError as error:
            return error.code.http_code, {"error": str(error)}
        except HttpError as error:
            self.close_connection = True
            return error.status, {"error": error.message}
        except JsonError as error:
            return error.status, {"error": error.message}
        except ClientGone:
            raise
        except Exception:
            log.exception("Unexpected error in REST request")
            return 500, {"error": Code.INTERNAL_ERROR.message}

    def read_body(self) -> bytes:
        """The body as Content-Length announces it; chunked, bad lengths and short reads refused."""
        if self.headers.get("Transfer-Encoding") is not None:
            raise HttpError(HTTPStatus.NOT_IMPLEMENTED, TRANSFER_ENCODING_UNSUPPORTED)
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            return b""
        text = lengths[0].strip(" \t")
        if len(lengths) > 1 or not _DIGITS.fullmatch(text):
            raise HttpError(HTTPStatus.BAD_REQUEST, INVALID_CONTENT_LENGTH)
        if len(text) > _MAX_LENGTH_DIGITS or int(text) > MAX_BODY_BYTES:
            self.close_connection = True  # the body is never read
            raise ServingError(Code.REST_PAYLOAD_TOO_LARGE)
        length = int(text)
        try:
            raw = self.rfile.read(length) if length else b""
        except (ConnectionError, TimeoutError) as error:
            raise ClientGone(str(error)) from error
        if len(raw) < length:
            # The client closed early: never run a request on a cut-off body.
            raise HttpError(HTTPStatus.BAD_REQUEST, BODY_TRUNCATED)
        return raw

    def _send_json(self, code: int, body: dict[str, Any]) -> None:
        """Send a JSON response with a Content-Length; a client that has gone is dropped quietly."""
        data = json.dumps(body).encode()
        if self.server.draining:
            self.close_connection = True
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except (ConnectionError, TimeoutError) as error:
            log.debug("REST client %s went away before the reply: %s", self.address_string(), error)
            self.close_connection = True


class DrainingServer(ThreadingHTTPServer):
    """Threading HTTP server that counts requests in flight so that a stop can drain them."""

    daemon_threads = True  # idle kept-alive connections never block the process exit
    block_on_close = False  # the drain waits for requests in flight, not for idle connections

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[JsonHandler],
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)
        self.draining = False
        self.max_connections = max_connections
        self._connections = 0
        self._in_flight = 0
        self._changed = threading.Condition()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Refuse a connection over the cap; else count its first request in flight at once."""
        with self._changed:
            full = self._connections >= self.max_connections
            if not full:
                self._connections += 1
        if full:
            self._refuse(request, client_address)
            return
        self.request_started()
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.request_finished()
            self._connection_closed()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Serve one connection on its own thread, then free its place under the cap."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connection_closed()

    def _connection_closed(self) -> None:
        """One connection fewer."""
        with self._changed:
            self._connections -= 1

    def _refuse(self, request: socket.socket, client_address: Any) -> None:
        """Answer 503 without reading the request (each connection costs a thread), and close."""
        log.warning("REST: %d connections open; refusing %s", self._connections, client_address)
        with contextlib.suppress(OSError):
            request.sendall(TOO_MANY_CONNECTIONS)
        self.shutdown_request(request)

    def request_started(self) -> None:
        """One more request in flight."""
        with self._changed:
            self._in_flight += 1

    def request_finished(self) -> None:
        """One request fewer in flight."""
        with self._changed:
            self._in_flight -= 1
            self._changed.notify_all()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that resets or stalls is logged at DEBUG; anything else with its traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            log.debug("REST connection from %s ended: %s", client_address, error)
        else:
            log.exception("Unexpected error on REST connection from %s", client_address)

    def stop_and_drain(self, timeout: float = DRAIN_SECONDS) -> None:
        """Stop accepting, wait up to `timeout` s for requests in flight, then close the socket."""
        self.draining = True
        self.shutdown()
        with self._changed:
            drained = self._changed.wait_for(lambda: self._in_flight <= 0, timeout)
            left = self._in_flight
        if not drained:
            log.warning("REST: %d request(s) still in flight after %.0f s; closing", left, timeout)
        self.server_close()


def start_http_servers(
    handler: type[JsonHandler], addresses: list[str], port: int, max_connections: int
) -> list[DrainingServer]:
    """Serve `handler` on every address, each in a background thread."""
    servers = []
    for address in addresses:
        server = DrainingServer((address, port), handler, max_connections)
        threading.Thread(target=server.serve_forever, name=f"rest-{address}", daemon=True).start()
        servers.append(server)
    return servers
