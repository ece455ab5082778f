"""Logging to stderr (and optionally a file) in an OVMS-like line format.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

import logging
import sys

TRACE = 5
_LEVELS = {"TRACE": TRACE, "DEBUG": logging.DEBUG, "INFO": logging.INFO}
_LEVELS |= {"WARNING": logging.WARNING, "ERROR": logging.ERROR}


def configure_logging(level: str, log_path: str = "") -> None:
    """Send the `model_server` loggers to stderr, or to `log_path` when given."""
    logging.addLevelName(TRACE, "TRACE")
    handler: logging.Handler = (
        logging.FileHandler(log_path, encoding="utf-8")
        if log_path
        else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(
        logging.Formatter("[%(asctime)s][%(process)d][%(name)s][%(levelname)s] %(message)s")
    )
    root = logging.getLogger("model_server")
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level])
    root.propagate = False
