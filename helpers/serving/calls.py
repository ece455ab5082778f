"""Small plumbing for the serving notebooks: capture a failed gRPC call, and call the REST API.

Used in notebooks 09 and 10 (both) and 11 (`rpc_failure`).
"""

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import grpc


def rpc_failure(call: Callable[[], object]) -> tuple[str, str]:
    """Run `call`, which must raise grpc.RpcError; return (status code name, details)."""
    try:
        call()
    except grpc.RpcError as error:
        return error.code().name, error.details()
    raise AssertionError("the call succeeded, but an error was expected")


def rest_call(
    url: str,
    body: object = None,
    timeout: float = 10.0,
    headers: dict[str, str] | None = None,
    method: str | None = None,
) -> tuple[int, Any]:
    """GET `url`, or POST `body` as JSON (or `method`); return (HTTP status, decoded JSON)."""
    data = None if body is None else json.dumps(body).encode()
    method = method or ("GET" if data is None else "POST")
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())
