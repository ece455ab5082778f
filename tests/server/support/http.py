"""Raw-socket HTTP and /proc/net helpers for the security tests (no HTTP library in the way)."""

import json
import socket
import struct
from dataclasses import dataclass
from typing import Any

LOOPBACK = "127.0.0.1"
LISTEN = "0A"


@dataclass
class Response:
    """One HTTP response read off the wire."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


def exchange(
    port: int,
    data: bytes,
    half_close: bool = False,
    timeout: float = 20.0,
    host: str = LOOPBACK,
    linger: float | None = 1.0,
) -> tuple[bytes, bool]:
    """Send `data`, optionally half-close, read until the server closes: (bytes, closed).

    tornado takes a half-close as the client leaving (a reply still being made is then lost), so
    `half_close` is for input that ends mid-request. A connection the server keeps open after a
    whole response is read for `linger` more seconds at most (None: until `timeout`).
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return read_until_closed(sock, linger)


def read_until_closed(sock: socket.socket, linger: float | None = None) -> tuple[bytes, bool]:
    """Everything the server sends; `closed` is False when the socket timed out instead.

    With `linger`, once what was read ends with a whole response that keeps the connection open,
    a quiet `linger` seconds also ends the read.
    """
    timeout = sock.gettimeout()
    chunks: list[bytes] = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            if linger is not None:
                kept_open = _ends_with_a_kept_alive_response(b"".join(chunks))
                sock.settimeout(linger if kept_open else timeout)
    except TimeoutError:
        return b"".join(chunks), False
    except ConnectionResetError:
        pass
    return b"".join(chunks), True


def _ends_with_a_kept_alive_response(data: bytes) -> bool:
    """True when `data` is whole responses with Content-Lengths, the last without a close."""
    keep_alive = False
    while data:
        head, separator, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").lower().split("\r\n")
        lengths = [line.split(":", 1)[1] for line in lines if line.startswith("content-length:")]
        if not separator or len(lengths) != 1 or len(rest) < int(lengths[0]):
            return False
        keep_alive = "connection: close" not in lines
        data = rest[int(lengths[0]) :]
    return keep_alive


def parse_responses(data: bytes) -> list[Response]:
    """Split a byte stream into HTTP/1.x responses; one without a Content-Length ends the stream
    (tornado's own `400 Bad Request` has no headers at all)."""
    responses = []
    while data:
        head, separator, rest = data.partition(b"\r\n\r\n")
        assert separator, f"incomplete response head: {data[:200]!r}"
        status_line, *lines = head.decode("latin-1").split("\r\n")
        assert status_line.startswith("HTTP/1."), status_line
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", len(rest)))
        responses.append(Response(int(status_line.split()[1]), headers, rest[:length]))
        data = rest[length:]
    return responses


def http_request(
    method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> bytes:
    """One HTTP/1.1 request as bytes, with a Content-Length when there is a body."""
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def reset_connection(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN (SO_LINGER with a zero timeout)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _ipv4(hex_address: str) -> str:
    """`0100007F` (little-endian hex, as /proc/net/tcp writes it) -> `127.0.0.1`."""
    return socket.inet_ntop(socket.AF_INET, bytes.fromhex(hex_address)[::-1])


def _ipv6(hex_address: str) -> str:
    """/proc/net/tcp6 address (four little-endian 32-bit words) -> text; v4-mapped as IPv4."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    text = socket.inet_ntop(socket.AF_INET6, words)
    # gRPC listens on an IPv6 socket bound to ::ffff:127.0.0.1, which takes only that IPv4 address.
    return text.removeprefix("::ffff:") if text.startswith("::ffff:") and "." in text else text


def listening_sockets(port: int) -> list[tuple[str, int]]:
    """(local address, accept-queue length) of every TCP socket in LISTEN state on `port`."""
    found = []
    for table, decode in (("/proc/net/tcp", _ipv4), ("/proc/net/tcp6", _ipv6)):
        try:
            with open(table, encoding="ascii") as handle:
                rows = handle.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            fields = row.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == LISTEN:
                backlog = int(fields[4].split(":")[1], 16)  # rx_queue of a listener
                found.append((decode(address), backlog))
    return found


def non_loopback_ipv4() -> str | None:
    """An IPv4 address of this machine outside 127.0.0.0/8, or None (UDP connect sends nothing)."""
    for target in ("192.0.2.1", "10.255.255.255", "8.8.8.8"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.connect((target, 9))
            except OSError:
                continue
            address = sock.getsockname()[0]
        if not address.startswith("127.") and address != "0.0.0.0":
            return address
    return None
