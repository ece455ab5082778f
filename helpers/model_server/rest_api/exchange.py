"""Tornado's side of one REST server: the connection cap, one request's exchange, the drain count.

Everything here runs on the server's IOLoop thread except the route, which runs on its pool.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable
from concurrent.futures import Executor
from typing import cast

from tornado import httputil
from tornado.http1connection import HTTP1Connection, HTTP1ServerConnection
from tornado.httpserver import HTTPServer
from tornado.iostream import IOStream, StreamClosedError

from helpers.model_server.protocol.status import Code
from helpers.model_server.rest_api.routing import Reply, Request, Route, error_reply

log = logging.getLogger("model_server.rest")

SERVER_NAME = "helpers.model_server"
TOO_MANY_CONNECTIONS = "Too many open connections; try again later"
INVALID_CONTENT_LENGTH = "Content-Length must be one non-negative integer"
_DIGITS = re.compile(r"[0-9]+")
_MAX_LENGTH_DIGITS = 18  # longer numbers exceed any body limit (and int() refuses huge ones)


def call_route(route: Route, request: Request) -> Reply:
    """The route's reply; an exception is logged and answered 500 (on a pool thread)."""
    try:
        return route(request)
    except Exception:
        log.exception("Unexpected error in REST request")
        return error_reply(500, Code.INTERNAL_ERROR.message)


def reply_headers(reply: Reply, close: bool) -> httputil.HTTPHeaders:
    """The response headers: ours, the reply's, then the framing (which a reply cannot set)."""
    headers = httputil.HTTPHeaders()
    headers["Server"] = SERVER_NAME
    headers["Date"] = httputil.format_timestamp(time.time())
    if reply.content_type:
        headers["Content-Type"] = reply.content_type
    for name, value in reply.headers.items():
        headers[name] = value
    headers["Content-Length"] = str(len(reply.body))
    if close:
        headers["Connection"] = "close"
    return headers


def raw_response(reply: Reply) -> bytes:
    """A whole `Connection: close` response as bytes, for a stream tornado no longer frames."""
    reason = httputil.responses.get(reply.status, "Unknown")
    lines = [f"HTTP/1.1 {reply.status} {reason}"]
    lines += [f"{name}: {value}" for name, value in reply_headers(reply, close=True).get_all()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply.body


class ServerState(httputil.HTTPServerConnectionDelegate):
    """What one server's connections share: the route, its pool, the limits and the counters."""

    def __init__(
        self,
        route: Route,
        pool: Executor,
        timeout: float,
        max_connections: int,
        max_body_bytes: int,
    ) -> None:
        self.route, self.pool, self.timeout = route, pool, timeout
        self.max_connections, self.max_body_bytes = max_connections, max_body_bytes
        self.draining = False
        self.in_flight = 0  # requests being read, routed or answered; drained on stop
        self._idle = asyncio.Event()
        self._idle.set()
        self._streams: set[IOStream] = set()  # open connections
        self._fresh: set[IOStream] = set()  # accepted; their first request is counted already
        self._current: dict[object, Exchange] = {}  # each connection's exchange
        self._tasks: set[asyncio.Future[None]] = set()

    @property
    def open(self) -> int:
        """How many connections are open."""
        return len(self._streams)

    def accepted(self, stream: IOStream) -> bool:
        """Count a new connection, and its first request in flight at once; False over the cap."""
        if self.open >= self.max_connections:
            return False
        self._streams.add(stream)
        self._fresh.add(stream)
        self.started()
        return True

    def refuse(self, stream: IOStream, reply: Reply) -> None:
        """Answer a connection we do not serve without reading from it, then close it."""
        self.keep(asyncio.ensure_future(write_and_close(stream, raw_response(reply))))

    def keep(self, task: "asyncio.Future[None]") -> None:
        """Hold a reference to a task until it is done (the loop keeps only weak ones)."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        """The exchange for the next request on a connection (made before anything is read)."""
        connection = cast(HTTP1Connection, request_conn)
        first = connection.stream in self._fresh
        self._fresh.discard(connection.stream)
        exchange = Exchange(self, connection, counted=first)
        self._current[server_conn] = exchange
        return exchange

    def on_close(self, server_conn: object) -> None:
        """A connection ended: its place under the cap and its unanswered request are freed."""
        stream = cast(HTTP1ServerConnection, server_conn).stream
        self._streams.discard(stream)
        if stream in self._fresh:  # closed before its first exchange began
            self._fresh.discard(stream)
            self.finished()
        exchange = self._current.pop(server_conn, None)
        if exchange is not None:
            exchange.on_connection_close()

    def started(self) -> None:
        """One more request in flight."""
        self.in_flight += 1
        self._idle.clear()

    def finished(self) -> None:
        """One request fewer in flight."""
        self.in_flight -= 1
        if self.in_flight <= 0:
            self._idle.set()

    async def drain(self, timeout: float) -> int:
        """Refuse new requests and wait up to `timeout` s for those in flight; how many are left."""
        self.draining = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        return self.in_flight

    def close_streams(self) -> None:
        """Close every open connection at once."""
        for stream in list(self._streams):
            stream.close()


async def write_and_close(stream: IOStream, data: bytes) -> None:
    """Send `data` and close the stream (quietly if the client has gone)."""
    try:
        await stream.write(data)
    except StreamClosedError:
        pass
    finally:
        stream.close()


class CappedHTTPServer(HTTPServer):
    """tornado's HTTPServer with a cap on open connections, serving through a `ServerState`."""

    @property
    def state(self) -> ServerState:
        """The state given as the request callback."""
        return cast(ServerState, self.request_callback)

    def handle_stream(self, stream: IOStream, address: tuple) -> None:
        """Serve a new connection, or answer 503 and close it when the cap is reached."""
        if self.state.accepted(stream):
            super().handle_stream(stream, address)
            return
        log.warning("REST: %d connections open; refusing %s", self.state.open, address)
        self.state.refuse(stream, error_reply(503, TOO_MANY_CONNECTIONS, close=True))

    def on_close(self, server_conn: object) -> None:
        """A connection ended."""
        super().on_close(server_conn)
        self.state.on_close(server_conn)


def capped_http_server(state: ServerState) -> CappedHTTPServer:
    """The HTTPServer for `state`: its timeouts and body limit, keep-alive, no xheaders."""
    # A chunked body past max_body_size gets tornado's own 400 as the limit is crossed; a body
    # whose Content-Length is past it gets OVMS's 413 from `Exchange`, before it is read.
    return CappedHTTPServer(
        state,
        idle_connection_timeout=state.timeout,  # for the whole head, idle time before it included
        body_timeout=state.timeout,  # for the whole body
        max_body_size=state.max_body_bytes,
    )


class Exchange(httputil.HTTPMessageDelegate):
    """One request: tornado reads it, the route runs on the pool, the reply is written here.

    tornado reads the next request on a connection only once this one's reply is finished, so
    pipelined requests are answered in order. It takes the end of the client's input (a
    half-close too) as the client leaving: a route already running still runs to its end.
    """

    def __init__(self, state: ServerState, connection: HTTP1Connection, counted: bool) -> None:
        self._state, self._connection, self._counted = state, connection, counted
        self._start = httputil.RequestStartLine("", "", "")
        self._headers = httputil.HTTPHeaders()
        self._chunks: list[bytes] = []
        self._routing = False

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        """Count the request in flight, or refuse it before its body is read."""
        self._start, self._headers = cast(httputil.RequestStartLine, start_line), headers
        if not self._counted:
            if self._state.draining:
                return self._refuse(None)
            self._state.started()
            self._counted = True
        refusal = self._length_refusal()
        if refusal is not None:
            return self._refuse(refusal)
        return None

    def _length_refusal(self) -> Reply | None:
        """OVMS's 413 for a Content-Length past the limit; a 400 unless it is one decimal number."""
        lengths = self._headers.get_list("Content-Length")
        if not lengths:
            return None
        text = lengths[0]
        if len(lengths) > 1 or not _DIGITS.fullmatch(text):
            return error_reply(400, INVALID_CONTENT_LENGTH, close=True)
        if len(text) > _MAX_LENGTH_DIGITS or int(text) > self._state.max_body_bytes:
            return error_reply(413, Code.REST_PAYLOAD_TOO_LARGE.message, close=True)
        return None

    def data_received(self, chunk: bytes) -> None:
        """Keep a piece of the body (tornado has checked its size and framing)."""
        self._chunks.append(chunk)

    def finish(self) -> None:
        """The whole request has been read: route it on the pool, then answer."""
        self._state.keep(asyncio.ensure_future(self._route_and_send()))

    def on_connection_close(self) -> None:
        """The client went away (or stalled): nothing is answered, unless a route is running."""
        if not self._routing:
            self._release()

    async def _route_and_send(self) -> None:
        """Run the route on the pool with the whole request, then send its reply."""
        request = Request(
            method=self._start.method,
            path=self._start.path.partition("?")[0],
            query=self._start.path.partition("?")[2],
            headers=self._header_dict(),
            body=b"".join(self._chunks),
            client_host=str(getattr(self._connection.context, "remote_ip", "")),
        )
        self._chunks = []
        self._routing = True
        try:
            loop = asyncio.get_running_loop()
            state = self._state
            reply = await loop.run_in_executor(state.pool, call_route, state.route, request)
        finally:
            self._routing = False
        self._send(reply)

    def _header_dict(self) -> dict[str, str]:
        """The request headers with lower-case names, repeated ones joined by commas."""
        found: dict[str, str] = {}
        for name, value in self._headers.get_all():
            key = name.lower()
            found[key] = f"{found[key]},{value}" if key in found else value
        return found

    def _send(self, reply: Reply) -> None:
        """Write the reply (no body to HEAD); close afterwards if the reply or a drain asks it."""
        self._access_log(reply)
        stream = self._connection.stream
        if stream is None or stream.closed():
            log.debug("REST client %s went away before the reply", self._client())
            self._release()
            return
        close = reply.close or self._state.draining
        start = httputil.ResponseStartLine(
            "HTTP/1.1", reply.status, httputil.responses.get(reply.status, "Unknown")
        )
        body = b"" if self._start.method == "HEAD" else reply.body
        written = self._connection.write_headers(start, reply_headers(reply, close), body)
        self._connection.finish()
        if close:
            written.add_done_callback(lambda _: stream.close())
        self._release()

    async def _refuse(self, reply: Reply | None) -> None:
        """Take the stream from tornado (the body is never read), send `reply`, close."""
        stream = self._connection.detach()
        if reply is None:
            stream.close()
        else:
            self._access_log(reply)
            await write_and_close(stream, raw_response(reply))
        self._release()

    def _release(self) -> None:
        """This request is no longer in flight (once)."""
        if self._counted:
            self._counted = False
            self._state.finished()

    def _client(self) -> str:
        """The client's address for the logs."""
        return str(getattr(self._connection.context, "remote_ip", "?"))

    def _access_log(self, reply: Reply) -> None:
        """The access log line, at DEBUG level (written even when the client has gone)."""
        start = self._start
        line = f"{start.method} {start.path} {start.version}"
        log.debug('%s - "%s" %d %d', self._client(), line, reply.status, len(reply.body))
