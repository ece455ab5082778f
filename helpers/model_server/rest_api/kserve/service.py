"""The KServe v2 REST API (`/v2/...`) as OVMS 2026.2 serves it, as one `routing.Route`.

`kserve_route(manager, sequence_extension)` answers every request whose path starts with `/v2`:
`urls` picks the call, the data plane (`dataplane.kserve`) answers it, and
`response` writes the body. Live, ready, model ready and OPTIONS answer 200 with an empty
body; every error is `{"error":"..."}` with OVMS's HTTP code (`status`). Content-Type is
always `application/json`.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

import logging
from collections.abc import Callable

from helpers.model_server.core.manager import ModelManager
from helpers.model_server.dataplane.kserve import (
    kserve_infer,
    kserve_model_metadata,
    kserve_model_ready,
    server_metadata,
)
from helpers.model_server.protocol.status import Code, ServingError
from helpers.model_server.rest_api.kserve.request import HEADER_LENGTH, decode_infer, header_length
from helpers.model_server.rest_api.kserve.response import (
    render_error,
    render_infer,
    render_model_metadata,
    render_server_metadata,
)
from helpers.model_server.rest_api.kserve.status import RestCode, RestError, http_status
from helpers.model_server.rest_api.kserve.urls import Route, RouteMatch, match_route
from helpers.model_server.rest_api.routing import Reply, Request
from helpers.model_server.rest_api.routing import Route as RestRoute

log = logging.getLogger("model_server.rest")

PREFIX = "/v2"  # the `routing.route_by_prefix` key of this API


def _always_ready() -> bool:
    """A server that answers requests has loaded its models (it starts REST afterwards)."""
    return True


def _infer(
    manager: ModelManager, sequence_extension: bool, match: RouteMatch, request: Request
) -> Reply:
    """processInferKFSRequest: decode, run, render (binary outputs after the JSON)."""
    json_length = header_length(request.headers)
    decoded = decode_infer(match.model_name, match.model_version, request.body, json_length)
    result = kserve_infer(manager, decoded.request, sequence_extension)
    rendered = render_infer(result, decoded.binary_outputs)
    headers = {} if rendered.json_length is None else {HEADER_LENGTH: str(rendered.json_length)}
    return Reply(200, rendered.body, headers)


def answer(
    manager: ModelManager,
    sequence_extension: bool,
    ready: Callable[[], bool],
    request: Request,
) -> Reply:
    """One KServe REST request answered; raises ServingError or RestError on failure."""
    match = match_route(request.method, request.path)
    if match.route is Route.INFER:
        return _infer(manager, sequence_extension, match, request)
    if match.route is Route.SERVER_READY and not ready():
        raise RestError(RestCode.SERVER_NOT_READY)
    if match.route is Route.SERVER_METADATA:
        return Reply(200, render_server_metadata(server_metadata(sequence_extension)))
    if match.route is Route.MODEL_METADATA:
        metadata = kserve_model_metadata(manager, match.model_name, match.model_version)
        return Reply(200, render_model_metadata(metadata))
    if match.route is Route.MODEL_READY and not kserve_model_ready(
        manager, match.model_name, match.model_version
    ):
        raise ServingError(Code.MODEL_VERSION_NOT_LOADED_YET)
    return Reply(200)  # live, ready, model ready, OPTIONS: an empty body


def kserve_route(
    manager: ModelManager,
    sequence_extension: bool = False,
    ready: Callable[[], bool] = _always_ready,
) -> RestRoute:
    """The `/v2` route: every method and path under it, answered or refused as OVMS does."""

    def route(request: Request) -> Reply:
        try:
            return answer(manager, sequence_extension, ready, request)
        except (ServingError, RestError) as error:
            return Reply(http_status(error), render_error(str(error)))
        except Exception:
            log.exception("Unexpected error in KServe REST request")
            return Reply(500, render_error(Code.INTERNAL_ERROR.message))

    return route
