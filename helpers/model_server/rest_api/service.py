"""The REST front end's routes on one port: TFS (`tfs/`), KServe v2 (`kserve/`) and admin.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

from functools import partial
from typing import Any

from helpers.model_server.core.manager import ModelManager
from helpers.model_server.rest_api.admin import ADMIN_PREFIX, admin_route
from helpers.model_server.rest_api.http import (
    MAX_CONNECTIONS,
    REQUEST_TIMEOUT_SECONDS,
    RestServer,
    start_http_servers,
)
from helpers.model_server.rest_api.kserve.service import PREFIX as KSERVE_PREFIX
from helpers.model_server.rest_api.kserve.service import kserve_route
from helpers.model_server.rest_api.routing import Request, Route, json_route, route_by_prefix
from helpers.model_server.rest_api.tfs.service import (
    CONFIG_STATUS_PATH,
    TFS_METHODS,
    config_status_route,
    tfs_answer,
)

ADMIN_METHODS = ("GET", "POST", "DELETE")  # others are http.server's 501, as they always were


def rest_routes(
    manager: ModelManager, introspection: bool = False, kserve_sequence_extension: bool = False
) -> dict[str, Route]:
    """Path prefix -> route on the REST port (see `routing.route_by_prefix`).

    The TFS API answers every path no other prefix claims, as OVMS does: `Invalid request URL`.
    Another API plugs in with its own prefix and `Route`, e.g. `"/v2/": kserve_route(manager)`;
    a route sees every method and writes its own body, content type and headers.
    """

    def admin(request: Request) -> dict[str, Any]:
        host = request.client_host
        return admin_route(manager, request.method, request.path, introspection, host)

    return {
        "": json_route(partial(tfs_answer, manager), TFS_METHODS),
        CONFIG_STATUS_PATH: config_status_route(manager),
        ADMIN_PREFIX: json_route(admin, ADMIN_METHODS),
        KSERVE_PREFIX: kserve_route(manager, kserve_sequence_extension),
    }


def start_rest_server(
    manager: ModelManager,
    addresses: list[str],
    port: int,
    timeout: float = REQUEST_TIMEOUT_SECONDS,
    max_connections: int = MAX_CONNECTIONS,
    introspection: bool = False,
    kserve_sequence_extension: bool = False,
) -> list[RestServer]:
    """Serve the REST API on every address, each on its own IOLoop thread."""
    route = route_by_prefix(rest_routes(manager, introspection, kserve_sequence_extension))
    return start_http_servers(route, addresses, port, timeout, max_connections)
