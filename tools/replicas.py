"""`make replicas` (`python -m tools.replicas` without make): N summator replicas behind nginx or
Envoy, routed by sequence id, until Ctrl-C.

Extra arguments after `--` go to every replica's server command line (for example
`--sequence_introspection`).
"""

import argparse
import contextlib
import json
import signal
import sys
import threading
from pathlib import Path

from helpers.models.summator import build_summator
from helpers.paths import REPO_ROOT
from helpers.serving import envoy, nginx
from helpers.serving.protocol import EXACT_F32
from helpers.serving.replicas import PROXIES, start_replicas
from helpers.serving.repository import write_model_repository

FOLDER = REPO_ROOT / "build" / "replicas"


def main(argv: list[str] | None = None) -> int:
    """Start the replicas and the proxy, print where they listen, wait for Ctrl-C, stop them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--count", type=int, default=3, help="number of replicas (Envoy: 3, the manifests' pods)"
    )
    parser.add_argument("--folder", type=Path, default=FOLDER, help="repository, logs, config")
    parser.add_argument("--proxy", choices=PROXIES, default="nginx", help="the proxy in front")
    parser.add_argument("server_args", nargs="*", help="more flags for every replica")
    args = parser.parse_args(argv)
    find, install_hint = {
        "nginx": (nginx.find_nginx, nginx.INSTALL_HINT),
        "envoy": (envoy.find_envoy, envoy.INSTALL_HINT),
    }[args.proxy]
    if find() is None:
        print(install_hint, file=sys.stderr)
        return 1
    write_model_repository(build_summator(), args.folder, "summator")
    flags = ["--model_name", "summator", "--model_path", str(args.folder / "summator")]
    flags += ["--stateful", "--plugin_config", json.dumps(EXACT_F32), *args.server_args]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    run = args.folder / "run"
    with start_replicas(
        args.folder, ["summator"], flags, args.count, run, proxy=args.proxy
    ) as group:
        for replica in group.replicas:
            print(f"replica {replica.index}: gRPC {replica.grpc_address}, REST {replica.rest_url}")
        print(
            f"{args.proxy}: gRPC {group.grpc_address}, REST {group.rest_url} (x-sequence-id routes)"
        )
        assert group.proxy is not None
        print(f"access log: {group.proxy.access_log}; Ctrl-C stops everything", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    print(f"stopped {args.proxy} and the replicas")
    return 0


if __name__ == "__main__":
    sys.exit(main())
