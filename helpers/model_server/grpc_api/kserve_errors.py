"""How a ServingError reads on KServe gRPC: OVMS's details, "Unknown error" where OVMS has none."""

import grpc

from helpers.model_server.protocol.status import ServingError

UNKNOWN_ERROR = "Unknown error"


def grpc_details(error: ServingError) -> str:
    """The details OVMS sends: the status string, or "Unknown error" for an unmapped status."""
    return UNKNOWN_ERROR if error.code.grpc_code == grpc.StatusCode.UNKNOWN else str(error)
