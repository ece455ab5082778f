"""OVMS status codes: the exact message, gRPC code and HTTP code of every error we return.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

from enum import Enum

import grpc

G = grpc.StatusCode


class Code(Enum):
    """A status with its OVMS message (src/status.cpp), gRPC code and HTTP code."""

    OK = ("OK", G.OK, 200)
    MODEL_NAME_MISSING = ("Model with requested name is not found", G.NOT_FOUND, 404)
    MODEL_VERSION_MISSING = ("Model with requested version is not found", G.NOT_FOUND, 404)
    MODEL_VERSION_NOT_LOADED_YET = (
        "Model with requested version is not loaded yet",
        G.UNAVAILABLE,
        404,
    )
    MODEL_VERSION_NOT_LOADED_ANYMORE = ("Model with requested version is retired", G.NOT_FOUND, 404)
    SEQUENCE_MISSING = ("Sequence with provided ID does not exist", G.NOT_FOUND, 404)
    SEQUENCE_ALREADY_EXISTS = ("Sequence with provided ID already exists", G.ALREADY_EXISTS, 409)
    SEQUENCE_TERMINATED = (
        "Sequence last request is being processed and it's not available anymore",
        G.FAILED_PRECONDITION,
        412,
    )
    MAX_SEQUENCE_NUMBER_REACHED = (
        "Max sequence number has been reached. Could not create new sequence.",
        G.UNAVAILABLE,
        503,
    )
    SEQUENCE_ID_NOT_PROVIDED = (
        "Sequence ID has not been provided in request inputs",
        G.INVALID_ARGUMENT,
        400,
    )
    INVALID_SEQUENCE_CONTROL_INPUT = (
        "Unexpected value of sequence control input",
        G.INVALID_ARGUMENT,
        400,
    )
    SEQUENCE_ID_BAD_TYPE = (
        "Could not find sequence id in expected tensor proto field uint64_val",
        G.INVALID_ARGUMENT,
        400,
    )
    SEQUENCE_CONTROL_INPUT_BAD_TYPE = (
        "Could not find sequence control input in expected tensor proto field uint32_val",
        G.INVALID_ARGUMENT,
        400,
    )
    SPECIAL_INPUT_NO_TENSOR_SHAPE = (
        "Special input proto does not contain tensor shape information",
        G.INVALID_ARGUMENT,
        400,
    )
    INVALID_NO_OF_SHAPE_DIMENSIONS = ("Invalid number of shape dimensions", G.INVALID_ARGUMENT, 400)
    INVALID_SHAPE = ("Invalid input shape", G.INVALID_ARGUMENT, 400)
    INVALID_BATCH_SIZE = ("Invalid input batch size", G.INVALID_ARGUMENT, 400)
    INVALID_NO_OF_INPUTS = ("Invalid number of inputs", G.INVALID_ARGUMENT, 400)
    INVALID_MISSING_INPUT = ("Missing input with specific name", G.INVALID_ARGUMENT, 400)
    INVALID_PRECISION = ("Invalid input precision", G.INVALID_ARGUMENT, 400)
    INVALID_CONTENT_SIZE = ("Invalid content size of tensor proto", G.INVALID_ARGUMENT, 400)
    REST_COULD_NOT_PARSE_INPUT = (
        "Could not parse input content. Not valid ndarray detected",
        G.INVALID_ARGUMENT,
        400,
    )
    REST_COULD_NOT_PARSE_INSTANCE = (
        "Could not parse instance content. Not valid ndarray detected",
        G.INVALID_ARGUMENT,
        400,
    )
    JSON_INVALID = ("The file is not valid json", G.INVALID_ARGUMENT, 400)
    REST_BODY_IS_NOT_AN_OBJECT = ("Request body should be JSON object", G.INVALID_ARGUMENT, 400)
    REST_PREDICT_UNKNOWN_ORDER = (
        "Invalid JSON structure. Could not detect row or column format",
        G.INVALID_ARGUMENT,
        400,
    )
    REST_INVALID_URL = ("Invalid request URL", G.INVALID_ARGUMENT, 404)
    REST_UNSUPPORTED_METHOD = ("Unsupported method", G.INVALID_ARGUMENT, 405)
    REST_PAYLOAD_TOO_LARGE = ("Request payload too large", G.RESOURCE_EXHAUSTED, 413)
    NOT_IMPLEMENTED = ("Functionality not implemented", G.UNKNOWN, 500)
    # KServe v2 (OVMS's src/status.cpp messages; gRPC codes from grpc_utils.cpp, HTTP codes from
    # http_server.cpp: an unmapped status is gRPC UNKNOWN "Unknown error" and HTTP 500).
    MODEL_VERSION_INVALID_FORMAT = (
        "invalid model version format in request",
        G.INVALID_ARGUMENT,
        500,
    )
    MEDIAPIPE_DEFINITION_NAME_MISSING = (
        "Mediapipe graph definition with requested name is not found",
        G.NOT_FOUND,
        404,
    )
    INVALID_MESSAGE_STRUCTURE = (
        "Passing buffers both in ModelInferRequest::InferInputTensor::contents and in "
        "ModelInferRequest::raw_input_contents is not allowed",
        G.INVALID_ARGUMENT,
        400,
    )
    INVALID_VALUE_COUNT = (
        "Invalid number of values in tensor proto container",
        G.INVALID_ARGUMENT,
        400,
    )
    # Ours: OVMS indexes raw_input_contents by input position without checking the count.
    RAW_INPUT_CONTENTS_COUNT = (
        "Number of raw_input_contents buffers does not match the number of inputs",
        G.INVALID_ARGUMENT,
        400,
    )
    # Ours: the KServe sequence extension (--kserve_sequence_extension).
    SEQUENCE_ID_PARAMETER_MISSING = (
        "Sequence ID has not been provided in request parameters",
        G.INVALID_ARGUMENT,
        400,
    )
    INVALID_SEQUENCE_PARAMETER = ("Invalid sequence parameter", G.INVALID_ARGUMENT, 400)
    # Ours: Triton's sequence control inputs, which the server fills.
    CONTROL_INPUT_SENT = (
        "Sequence control inputs are filled by the server and must not be sent",
        G.INVALID_ARGUMENT,
        400,
    )
    INTERNAL_ERROR = ("Internal server error", G.INTERNAL, 500)
    OV_INTERNAL_INFERENCE_ERROR = ("Internal inference error", G.INTERNAL, 500)

    @property
    def message(self) -> str:
        """The base message, exactly as OVMS words it."""
        return self.value[0]

    @property
    def grpc_code(self) -> grpc.StatusCode:
        """The gRPC status code OVMS maps this status to."""
        return self.value[1]

    @property
    def http_code(self) -> int:
        """The HTTP status code OVMS maps this status to."""
        return self.value[2]


class ServingError(Exception):
    """A request failed with an OVMS status; `str()` is the message a client sees."""

    def __init__(self, code: Code, details: str = "") -> None:
        self.code = code
        self.details = details
        super().__init__(f"{code.message} - {details}" if details else code.message)
