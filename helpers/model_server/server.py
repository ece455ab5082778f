"""Wire the pieces together: settings -> model manager -> front ends -> background threads.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

import json
import logging
import signal
import threading
from pathlib import Path

import grpc
import openvino as ov

from helpers.model_server.config.cli import Settings
from helpers.model_server.config.config_file import ConfigFileError, parse_config_text
from helpers.model_server.config.model_config import (
    ModelConfig,
    ModelConfigError,
    SequenceBatching,
    VersionPolicy,
    check_base_path,
    check_stateful_keys,
    parse_version_policy,
)
from helpers.model_server.core.background import Periodic, RepositoryPoller, SequenceCleaner
from helpers.model_server.core.manager import ModelManager
from helpers.model_server.core.snapshots import SnapshotStore, SnapshotWriter
from helpers.model_server.grpc_api.service import bind_grpc_server
from helpers.model_server.grpc_api.streams import OpenStreams
from helpers.model_server.process.logs import configure_logging
from helpers.model_server.process.parent_watch import watch_parent
from helpers.model_server.protocol.wire import VersionState
from helpers.model_server.rest_api.http import DRAIN_SECONDS
from helpers.model_server.rest_api.service import start_rest_server

log = logging.getLogger("model_server.server")

EXIT_FAILURE = 1
GRPC_THREADS = 64
# How long a stop waits for in-flight requests before cancelling them. It must stay below the
# launcher's SIGKILL timeout (`ServerHandle.stop`), so that a drain is never cut short there.
SHUTDOWN_GRACE_SECONDS = DRAIN_SECONDS  # in-flight gRPC calls get what REST requests get


def cli_model_config(settings: Settings) -> ModelConfig:
    """The single model described by --model_name/--model_path and the model flags."""
    given = {name: getattr(settings, name) for name in settings.given}
    check_stateful_keys(settings.model_name, given, settings.stateful)
    check_base_path(settings.model_path)  # before resolve(), which would hide the `..`
    plugin = json.loads(settings.plugin_config) if settings.plugin_config else {}
    if not isinstance(plugin, dict):
        raise ModelConfigError("plugin_config should be a JSON object")
    policy = settings.model_version_policy
    return ModelConfig(
        name=settings.model_name,
        base_path=Path(settings.model_path).expanduser().resolve(),
        batch_size=settings.batch_size or None,
        shape=settings.shape or None,
        layout=settings.layout or None,
        version_policy=parse_version_policy(policy) if policy else VersionPolicy(),
        nireq=settings.nireq,
        target_device=settings.target_device,
        plugin_config=plugin,
        stateful=settings.stateful,
        idle_sequence_cleanup=settings.idle_sequence_cleanup,
        low_latency_transformation=settings.low_latency_transformation,
        max_sequence_number=settings.max_sequence_number,
        sequence_batching=SequenceBatching(
            settings.sequence_batching_max_batch_size,
            settings.sequence_batching_max_queue_delay_microseconds,
        )
        if settings.sequence_batching_max_batch_size
        else None,
    )


class ModelServer:
    """A running server: its manager, front ends and background threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.manager = ModelManager(ov.Core())
        self.stopped = threading.Event()
        self._stoppers: list = []
        self._grpc_server: grpc.Server | None = None
        self._streams = OpenStreams()  # ModelStreamInfer calls (the KServe sequence extension)
        self.config_text = ""  # config.json as loaded (config mode)
        self.snapshots: SnapshotStore | None = None  # ours: --sequence_snapshot_path

    def load_models(self) -> bool:
        """Initial load; False when the server must not start (OVMS: model manager failed)."""
        settings = self.settings
        if settings.config_path:
            path = Path(settings.config_path).expanduser().resolve()
            try:
                self.config_text = path.read_text(encoding="utf-8")
                configs = parse_config_text(self.config_text, path.parent)
            except (OSError, ConfigFileError) as error:
                log.error("Couldn't start model manager: %s", error)
                return False
            self.manager.apply(configs)
            self.config_path: Path | None = path
            return True
        self.config_path = None
        try:
            config = cli_model_config(settings)
        except (ModelConfigError, json.JSONDecodeError) as error:
            log.error("Couldn't start model manager: %s", error)
            return False
        self.manager.apply([config])
        model = self.manager.models.get(config.name)  # None: refused (e.g. `auto` on stateful)
        if model is None or any(v.state == VersionState.LOADING for v in model.versions.values()):
            log.error("Couldn't start model manager")
            return False
        return True

    def restore_sequences(self) -> bool:
        """Ours: make the snapshot folder and restore its sequences; False if it cannot be made."""
        folder = self.settings.sequence_snapshot_path
        if not folder:
            return True
        path = Path(folder).expanduser().resolve()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            log.error("Could not create the sequence snapshot folder %s: %s", path, error)
            return False
        self.snapshots = SnapshotStore(path)
        keep = self.settings.sequence_snapshot_interval_seconds > 0
        self.snapshots.restore_into(self.manager, keep_file=keep)
        return True

    def save_sequences(self) -> bool:
        """Ours: the snapshot written at shutdown, after the drain; False if it failed."""
        if self.snapshots is None:
            return True
        try:
            count = self.snapshots.save(self.manager)
        except OSError as error:
            log.error("Could not write the sequence snapshot %s: %s", self.snapshots.path, error)
            return False
        log.info("Sequence snapshot: wrote %d sequence(s) to %s", count, self.snapshots.path)
        return True

    def start(self) -> None:
        """Start the front ends and the background threads."""
        settings = self.settings
        # Both front ends listen before either answers: a client that saw a model AVAILABLE on one
        # is never refused a connection on the other, whose calls at worst wait a moment.
        grpc_server = None
        if settings.port:
            addresses = settings.grpc_bind_address.split(",")
            grpc_server = bind_grpc_server(
                self.manager,
                addresses,
                settings.port,
                GRPC_THREADS,
                kserve_sequence_extension=settings.kserve_sequence_extension,
                streams=self._streams,
            )
            self._stoppers.append(lambda: self._stop_grpc(grpc_server))
        if settings.rest_port:
            addresses = settings.rest_bind_address.split(",")
            introspection = settings.sequence_introspection
            rest_servers = start_rest_server(
                self.manager,
                addresses,
                settings.rest_port,
                introspection=introspection,
                kserve_sequence_extension=settings.kserve_sequence_extension,
            )
            for rest in rest_servers:
                self._stoppers.append(rest.stop_and_drain)
            log.info("Started REST server on %s:%s", settings.rest_bind_address, settings.rest_port)
        if grpc_server is not None:
            grpc_server.start()
            self._grpc_server = grpc_server
            log.info("Started gRPC server on %s:%s", settings.grpc_bind_address, settings.port)
        poll = settings.file_system_poll_wait_seconds
        if poll > 0:
            self._background(
                RepositoryPoller(self.manager, poll, self.config_path, self.config_text)
            )
        if settings.cleaner_interval_seconds > 0:
            self._background(SequenceCleaner(self.manager, settings.cleaner_interval_seconds))
        interval = settings.sequence_snapshot_interval_seconds
        if self.snapshots is not None and interval > 0:
            self._background(SnapshotWriter(self.snapshots, self.manager, interval))

    def _stop_grpc(self, server: grpc.Server) -> None:
        """Stop the gRPC front end, in-flight calls getting the grace period.

        One that was bound but never started (REST failed to start) is started and stopped at
        once: gRPC releases its ports only then."""
        if self._grpc_server is None:
            server.start()
            server.stop(0).wait()
        else:
            server.stop(SHUTDOWN_GRACE_SECONDS).wait()

    def _background(self, thread: Periodic) -> None:
        """Start a background thread and remember how to stop it."""
        thread.start()
        self._stoppers.append(thread.stop)

    def refuse_new_requests(self) -> None:
        """Refuse new gRPC calls at once; those in flight keep running (the grace period), and
        open streams end after the request they are running."""
        if self._grpc_server is not None:
            self._grpc_server.stop(SHUTDOWN_GRACE_SECONDS)
            self._streams.drain()

    def stop(self) -> None:
        """Stop everything that was started; in-flight requests get the grace period."""
        for stop in reversed(self._stoppers):
            stop()
        self.stopped.set()


def run(settings: Settings) -> int:
    """Run until SIGTERM, SIGINT or the launching process exits; the exit code follows OVMS."""
    configure_logging(settings.log_level, settings.log_path)
    server = ModelServer(settings)
    if not server.load_models() or not server.restore_sequences():
        return EXIT_FAILURE
    try:
        server.start()
    except (OSError, RuntimeError) as error:
        log.error("Could not start the server: %s", error)
        server.stop()
        return EXIT_FAILURE
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: server.stopped.set())
    watch_parent(server.stopped)
    while not server.stopped.wait(0.5):
        pass
    server.refuse_new_requests()
    log.info("Shutting down")
    server.stop()
    saved = server.save_sequences()
    log.info("Shutdown complete")
    return 0 if saved else EXIT_FAILURE
