"""The KServe v2 REST routes: OVMS's URL patterns, method checks and their order.

As `HttpRestApiHandler::processRequest` and `parseRequestComponents` (src/http_rest_api_handler.cpp)
do: a path escaping with `..` first, then the method (GET, POST, OPTIONS only), then each pattern
matched against the whole path in OVMS's order. A path that only another method serves is
"Unsupported method"; any other path "Invalid request URL". The model name is URL-decoded with
OVMS's `urlDecode`; the version is a number (beyond int64: the version is not found).

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

import re
from dataclasses import dataclass
from enum import Enum

from helpers.model_server.protocol.status import Code, ServingError
from helpers.model_server.rest_api.kserve.status import RestCode, RestError

_MODEL = r"/v2/models/([^/]+)(?:/versions/([0-9]+))?"
MODEL_READY = re.compile(_MODEL + r"(?:/(ready))")
MODEL_METADATA = re.compile(_MODEL + r"(?:/)?")
INFER = re.compile(_MODEL + r"(?:/(infer))")
SERVER_READY = re.compile(r"/v2/health/ready")
SERVER_LIVE = re.compile(r"/v2/health/live")
SERVER_METADATA = re.compile(r"/v2")
_INT64_MAX = 2**63 - 1
_HEX = "0123456789abcdefABCDEF"


class Route(Enum):
    """What a KServe REST request asks for."""

    SERVER_LIVE = "server live"
    SERVER_READY = "server ready"
    SERVER_METADATA = "server metadata"
    MODEL_METADATA = "model metadata"
    MODEL_READY = "model ready"
    INFER = "infer"
    OPTIONS = "options"


@dataclass(frozen=True)
class RouteMatch:
    """A matched route, with the model name and version string ("" = default) of model routes."""

    route: Route
    model_name: str = ""
    model_version: str = ""


def url_decode(encoded: str) -> str:
    """OVMS's urlDecode: `%XX` becomes that byte; a `%` without two hex digits stays."""
    decoded = bytearray()
    data = encoded.encode("utf-8", "surrogateescape")
    index = 0
    while index < len(data):
        byte = data[index]
        if (
            byte == 0x25
            and index + 2 < len(data)
            and chr(data[index + 1]) in _HEX
            and chr(data[index + 2]) in _HEX
        ):
            decoded.append(int(data[index + 1 : index + 3], 16))
            index += 3
        else:
            decoded.append(byte)
            index += 1
    return decoded.decode("utf-8", "surrogateescape")


def is_path_escaped(path: str) -> bool:
    """OVMS's FileSystem::isPathEscaped, character for character."""
    for dots_after, dots_before, inner in (("../", "/..", "/../"), ("..\\", "\\..", "\\..\\")):
        if path.find(dots_after) == 0 or inner in path:
            return True
        before = path.find(dots_before)
        if before != -1 and before == len(path) - 3:
            return True
    return False


def _version(digits: str | None) -> str:
    """The version string of a `[0-9]+` group: std::stoll, out of range = version missing."""
    if not digits:
        return ""
    number = int(digits)
    if number > _INT64_MAX:
        raise ServingError(Code.MODEL_VERSION_MISSING)
    return str(number)


def _model_match(route: Route, match: re.Match[str]) -> RouteMatch:
    """A model route with its decoded name and version."""
    return RouteMatch(route, url_decode(match[1]), _version(match[2]))


def _post(path: str) -> RouteMatch:
    """A POST: infer only; another KServe route's path is an unsupported method."""
    match = INFER.fullmatch(path)
    if match is not None:
        return _model_match(Route.INFER, match)
    served_by_get = (SERVER_LIVE, SERVER_READY, SERVER_METADATA, MODEL_METADATA, MODEL_READY)
    if any(pattern.fullmatch(path) for pattern in served_by_get):
        raise ServingError(Code.REST_UNSUPPORTED_METHOD)
    raise ServingError(Code.REST_INVALID_URL)


def _get(path: str) -> RouteMatch:
    """A GET, in OVMS's order of patterns; the infer path is an unsupported method."""
    for pattern, route in (
        (SERVER_LIVE, Route.SERVER_LIVE),
        (SERVER_READY, Route.SERVER_READY),
        (SERVER_METADATA, Route.SERVER_METADATA),
    ):
        if pattern.fullmatch(path):
            return RouteMatch(route)
    for pattern, route in (
        (MODEL_METADATA, Route.MODEL_METADATA),
        (MODEL_READY, Route.MODEL_READY),
    ):
        match = pattern.fullmatch(path)
        if match is not None:
            return _model_match(route, match)
    if INFER.fullmatch(path):
        raise ServingError(Code.REST_UNSUPPORTED_METHOD)
    raise ServingError(Code.REST_INVALID_URL)


def match_route(method: str, path: str) -> RouteMatch:
    """The route of a request (path without its query), or the OVMS error that refuses it."""
    if is_path_escaped(path):
        raise RestError(RestCode.PATH_INVALID)
    if method == "POST":
        return _post(path)
    if method == "GET":
        return _get(path)
    if method == "OPTIONS":
        return RouteMatch(Route.OPTIONS)
    raise ServingError(Code.REST_UNSUPPORTED_METHOD)
