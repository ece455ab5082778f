"""HTTP/1.1 on tornado for the REST front end: one IOLoop thread per address, routes on a pool.

Each address gets a tornado `HTTPServer` on its own asyncio loop in a background thread. Tornado
parses and frames every request (chunked bodies included); `rest_api.exchange` turns each one into
a `routing.Request`, runs the `routing.Route` on this server's thread pool and writes its `Reply`.
Limits: body size, open connections, stalled clients, and a stop that drains requests in flight.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

import asyncio
import contextlib
import ipaddress
import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

from tornado import netutil

from helpers.model_server.rest_api.exchange import CappedHTTPServer, ServerState, capped_http_server
from helpers.model_server.rest_api.routing import Route

log = logging.getLogger("model_server.rest")

MAX_BODY_BYTES = 64 * 1024 * 1024
# A client is dropped when a request's head (idle time on a kept-alive connection included) or its
# body takes longer than this to arrive, so a stalled client cannot hold a place forever.
REQUEST_TIMEOUT_SECONDS = 60.0
# On shutdown, requests in flight get this long to finish before the connections close.
DRAIN_SECONDS = 5.0
# Each open connection costs buffers and one place in the queue for the route threads below.
MAX_CONNECTIONS = 256
# Routes run on this many threads per address (as many as gRPC's GRPC_THREADS); a connection has
# one request at a time, so at most MAX_CONNECTIONS wait, and the IOLoop never blocks on a route.
ROUTE_THREADS = 64
LISTEN_BACKLOG = 128  # tornado's default
_STOP_SECONDS = 5.0  # for the loop thread to finish once the drain is over


def _is_ipv4(address: str) -> bool:
    """True for an IPv4 address literal."""
    try:
        return ipaddress.ip_address(address).version == 4
    except ValueError:
        return False


def _is_ipv6_any(address: str) -> bool:
    """True for the IPv6 unspecified address (`::`)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return parsed.version == 6 and parsed.is_unspecified


def _bind(port: int, address: str, dual_stack: bool) -> list[socket.socket]:
    """The listening sockets of `address`; `::` also takes IPv4 when `dual_stack`.

    tornado sets IPV6_V6ONLY on every IPv6 socket, so its `::` would refuse the IPv4 clients
    that the stdlib server and gRPC's `[::]` accept; that socket is made here instead.
    """
    if not (dual_stack and _is_ipv6_any(address) and socket.has_dualstack_ipv6()):
        return netutil.bind_sockets(port, address, backlog=LISTEN_BACKLOG)
    sock = socket.create_server(
        (address, port), family=socket.AF_INET6, backlog=LISTEN_BACKLOG, dualstack_ipv6=True
    )
    sock.setblocking(False)
    return [sock]


class RestServer:
    """One listening address: a tornado HTTPServer on its own IOLoop thread, routes on a pool."""

    def __init__(
        self,
        route: Route,
        address: str,
        port: int,
        timeout: float,
        max_connections: int,
        dual_stack: bool = True,
    ) -> None:
        sockets = _bind(port, address, dual_stack)  # raises OSError here, in the caller
        self._pool = ThreadPoolExecutor(ROUTE_THREADS, thread_name_prefix=f"rest-route-{address}")
        self._state = ServerState(route, self._pool, timeout, max_connections, MAX_BODY_BYTES)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"rest-{address}")
        self._thread.daemon = True  # a stop that could not drain never blocks the process exit
        self._thread.start()
        listening = self._listen(sockets)
        self._server = asyncio.run_coroutine_threadsafe(listening, self._loop).result()

    async def _listen(self, sockets: list[socket.socket]) -> CappedHTTPServer:
        """Create the HTTPServer on the loop (tornado serves on the IOLoop current there)."""
        server = capped_http_server(self._state)
        server.add_sockets(sockets)
        return server

    def stop_and_drain(self, timeout: float = DRAIN_SECONDS) -> None:
        """Stop accepting, wait up to `timeout` s for requests in flight, then close everything."""
        left = asyncio.run_coroutine_threadsafe(self._drain(timeout), self._loop).result()
        if left:
            log.warning("REST: %d request(s) still in flight after %.1f s; closing", left, timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_STOP_SECONDS)
        if not left and not self._thread.is_alive():
            self._loop.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _drain(self, timeout: float) -> int:
        """Close the listening sockets, wait for the requests in flight, close the connections."""
        self._server.stop()
        left = await self._state.drain(timeout)
        if left:
            self._state.close_streams()  # their routes finish on the pool; nobody hears the answer
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.close_all_connections(), _STOP_SECONDS)
        return left


def start_http_servers(
    route: Route, addresses: list[str], port: int, timeout: float, max_connections: int
) -> list[RestServer]:
    """Serve `route` on every address (IPv4 or IPv6), each on its own IOLoop thread."""
    # A dual-stack `::` would collide with an IPv4 address of the same port: keep it IPv6-only then.
    dual_stack = not any(_is_ipv4(address) for address in addresses)
    servers: list[RestServer] = []
    try:
        for address in addresses:
            server = RestServer(route, address, port, timeout, max_connections, dual_stack)
            servers.append(server)
    except BaseException:  # an address that cannot be bound: stop the others, then report it
        for server in servers:
            server.stop_and_drain(timeout=0)
        raise
    return servers
