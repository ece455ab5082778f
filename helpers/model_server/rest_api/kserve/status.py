"""The statuses of the KServe REST front end and OVMS's HTTP code of every status it answers.

OVMS maps a status to HTTP in src/http_server.cpp (`http()`); a status missing from that map is
500. The shared `Code` table keeps the TFS REST codes of the `/v1` API, so the three KServe
answers that differ are overridden here; `RestCode` holds the REST-only statuses (src/status.cpp
messages) that the KServe REST parser and router raise.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

from enum import Enum

from helpers.model_server.protocol.status import Code, ServingError


class RestCode(Enum):
    """A status only the KServe REST front end raises: OVMS message and HTTP code."""

    PATH_INVALID = ("The provided base path is invalid or doesn't exists", 400)
    SERVER_NOT_READY = ("Server is not ready", 503)
    JSON_NESTING_DEPTH_EXCEEDED = ("JSON nesting depth exceeds the allowed limit", 500)
    REST_NO_INPUTS_FOUND = ("Invalid JSON structure, missing inputs", 400)
    REST_COULD_NOT_PARSE_OUTPUT = ("Could not parse output content.", 400)
    REST_COULD_NOT_PARSE_PARAMETERS = ("Could not parse request parameters", 400)
    REST_UNSUPPORTED_PRECISION = (
        "Could not parse input content. Unsupported data precision detected",
        400,
    )
    REST_INFERENCE_HEADER_CONTENT_LENGTH_EXCEEDED = (
        "Inference-Header-Content-Length header exceeds actual payload length",
        500,
    )
    REST_INFERENCE_HEADER_CONTENT_LENGTH_INVALID = (
        "Inference-Header-Content-Length header is invalid and couldn't be parsed",
        500,
    )
    REST_BINARY_DATA_SIZE_PARAMETER_INVALID = (
        "binary_data_size parameter is invalid and cannot be parsed",
        400,
    )
    REST_BINARY_BUFFER_EXCEEDED = (
        "Received buffer size is smaller than binary_data_size parameter indicates",
        400,
    )
    REST_CONTENTS_FIELD_NOT_EMPTY = (
        "Request contains values both in binary data and in content value",
        500,
    )
    REST_PROTO_TO_STRING_ERROR = ("Response parsing to JSON error", 500)

    @property
    def message(self) -> str:
        """The message, exactly as OVMS words it."""
        return self.value[0]

    @property
    def http_code(self) -> int:
        """The HTTP status OVMS answers it with."""
        return self.value[1]


class RestError(Exception):
    """A KServe REST request refused with a RestCode; `str()` is what the client sees."""

    def __init__(self, code: RestCode, details: str = "") -> None:
        self.code = code
        self.details = details
        super().__init__(f"{code.message} - {details}" if details else code.message)


# OVMS 2026.2's HTTP codes where the shared table keeps the TFS REST front end's.
_KSERVE_HTTP: dict[Code, int] = {
    Code.REST_INVALID_URL: 400,  # BAD_REQUEST
    Code.REST_UNSUPPORTED_METHOD: 406,  # NONE_ACC
    Code.JSON_INVALID: 412,  # PRECOND_FAILED
}


def http_status(error: ServingError | RestError) -> int:
    """The HTTP status OVMS answers this error with."""
    if isinstance(error, RestError):
        return error.code.http_code
    return _KSERVE_HTTP.get(error.code, error.code.http_code)
