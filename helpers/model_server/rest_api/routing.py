"""The REST front end's routing seam: a `Request` in, a `Reply` out, with no HTTP library in sight.

`rest_api.http` parses and frames HTTP, then calls a `Route` (a plain callable) on a worker thread
with the whole request; the route may block. `route_by_prefix` picks a route by path prefix, which
is how the TFS API (`/v1/`), the admin routes (`/admin/`) and the KServe v2 API (`/v2/`) share one
port. `json_route` turns a function that returns a JSON document into a route with the TFS API's
error mapping (`{"error": "..."}`).

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

import json
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from helpers.model_server.protocol.status import Code, ServingError

log = logging.getLogger("model_server.rest")


@dataclass(frozen=True)
class Request:
    """One HTTP request, body complete: `headers` has lower-case names (repeats joined by ",")."""

    method: str
    path: str  # the request target before any `?`, not percent-decoded
    query: str  # after the `?` ("" when there is none)
    headers: Mapping[str, str]
    body: bytes
    client_host: str  # the peer's IP address as text ("::1", "127.0.0.1")

    def header(self, name: str, default: str | None = None) -> str | None:
        """The value of header `name` (any case), or `default`."""
        return self.headers.get(name.lower(), default)


@dataclass(frozen=True)
class Reply:
    """One HTTP answer; the server adds Content-Length, Date, Server and Connection itself."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)  # more headers, sent as given
    content_type: str = "application/json"  # "" sends no Content-Type
    close: bool = False  # close the connection once this reply is sent


# Called on a worker thread, never on the IOLoop: it may block (predict runs OpenVINO). An
# exception that escapes is logged and answered 500 `{"error": "Internal server error"}`.
Route = Callable[[Request], Reply]


class JsonError(Exception):
    """A request answered with this HTTP status and `{"error": message}`; the connection stays."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_reply(status: int, document: Any) -> Reply:
    """`document` as compact JSON (`json.dumps` defaults, as OVMS's TFS answers are compared)."""
    return Reply(status, json.dumps(document).encode())


def error_reply(status: int, message: str, close: bool = False) -> Reply:
    """`{"error": message}` with this status."""
    return Reply(status, json.dumps({"error": message}).encode(), close=close)


def unsupported_method(method: str) -> Reply:
    """The 501 that http.server gave a method it had no handler for; the connection closes."""
    return error_reply(501, f"Unsupported method ({method!r})", close=True)


def route_by_prefix(routes: Mapping[str, Route]) -> Route:
    """One route from `path prefix -> route`: the longest prefix of the path answers ("" is any)."""
    table = sorted(routes.items(), key=lambda item: len(item[0]), reverse=True)

    def route(request: Request) -> Reply:
        for prefix, answer in table:
            if request.path.startswith(prefix):
                return answer(request)
        return error_reply(404, Code.REST_INVALID_URL.message)

    return route


def json_route(answer: Callable[[Request], Any], methods: Collection[str]) -> Route:
    """A route answering `methods` with `answer`'s JSON document (200) or its error as JSON."""

    def route(request: Request) -> Reply:
        if request.method not in methods:
            return unsupported_method(request.method)
        try:
            return json_reply(200, answer(request))
        except ServingError as error:
            return error_reply(error.code.http_code, str(error))
        except JsonError as error:
            return error_reply(error.status, error.message)
        except Exception:
            log.exception("Unexpected error in REST request")
            return error_reply(500, Code.INTERNAL_ERROR.message)

    return route
