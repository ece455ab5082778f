"""`python -m helpers.model_server`: a drop-in for the `ovms` binary (OpenVINO IR models).

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

import sys

from helpers.model_server.config.cli import EX_USAGE, USAGE, HelpRequested, UsageError, parse_args
from helpers.model_server.process.heap import use_one_malloc_arena
from helpers.model_server.process.light_tensorflow import install_light_tensorflow_namespace


def main(argv: list[str]) -> int:
    """Validate the flags first (cheap), then load the server and run it."""
    try:
        settings = parse_args(argv)
    except HelpRequested:
        print(USAGE)
        return 0
    except UsageError as error:
        print(error, file=sys.stderr)
        return EX_USAGE
    # Before any thread starts, so that malloc_trim can return the memory of ended sequences.
    use_one_malloc_arena()
    # Before anything imports a tensorflow_serving module: the protos without all of TensorFlow.
    install_light_tensorflow_namespace()
    from helpers.model_server.server import run

    return run(settings)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
