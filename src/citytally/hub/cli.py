"""``citytally hub``: ingest + API and dashboard (``citytally edge`` is in :mod:`citytally.edge.cli`).

The command is the wiring point of the hub process: it builds the parts in order and stops them in reverse.
Heavy imports live inside the command functions.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import socket

    from sqlalchemy.engine import Engine

    from citytally.hub.audit_checkpoints import AuditCheckpointer
    from citytally.hub.config import HubSettings
    from citytally.hub.metrics import HubMetrics

__all__ = ["register", "hub"]

log = logging.getLogger(__name__)


def hub(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Hub config (TOML). Default: built-in defaults.")
    ] = None,
    no_api: Annotated[bool, typer.Option("--no-api", help="Run without the API and dashboard.")] = False,
) -> None:
    """Run the hub: MQTT ingest into the store, and the API and dashboard.

    The store's schema is brought up to date first and the camera registry is synced from the camera
    configs the hub config lists. Stops cleanly on Ctrl-C or SIGTERM (what was received is stored first).
    """
    from citytally.hub.alerts import AlertRelay
    from citytally.hub.config import load_hub_settings
    from citytally.hub.ingest import Ingest
    from citytally.hub.metrics import HubMetrics
    from citytally.hub.retention import RetentionJob
    from citytally.hub.store import (
        EventWriter,
        create_store_engine,
        damage,
        migrate,
        sync_registry,
        wait_for_database,
    )
    from citytally.hub.web import bind_port
    from citytally.redaction import redact_url

    settings = load_hub_settings(config)
    cameras = settings.load_cameras()
    checkpoint_key = _checkpoint_key(settings)  # refused before anything starts, as a bad config is
    serving = settings.api.enabled and not no_api
    listening = bind_port(settings.api.host, settings.api.port, "[api]") if serving else None
    try:
        url = settings.database.resolved_url()
        engine = create_store_engine(url)
        wait_for_database(engine)  # a service started before its database waits for it
        migrate(engine)
        sync_registry(engine, cameras, {slug: site.model_dump() for slug, site in settings.sites.items()})
        log.info("hub: store %s, %d cameras registered", redact_url(url), len(cameras))
        metrics = HubMetrics()
        metrics.watch_store(engine)
        # damage no statement has met yet (a page of old data): looked for once, beside the rest
        threading.Thread(target=damage.check, args=(engine,), name="hub-store-check", daemon=True).start()
        writer = EventWriter(
            engine,
            topic_prefix=settings.mqtt.topic_prefix,
            accept_unknown_cameras=settings.ingest.accept_unknown_cameras,
            limits=settings.ingest.message_limits(),
        )
        ingest = Ingest(writer, settings.mqtt, settings.ingest, metrics=metrics)
        # From the first message received on, a stop (Ctrl-C, or SIGTERM from a service manager, which
        # may come while the rest still starts) goes through the orderly shutdown below, never the
        # default kill.
        stop, previous = _stop_on_signals()
        ingest.start()
        # incidents out on <prefix>/alerts/<site>/<camera>/incident
        alerts = AlertRelay(engine, settings.mqtt)
        metrics.watch_alerts(alerts)
        alerts.start()
        retention = RetentionJob(engine, settings.retention, metrics=metrics)
        retention.start()
        checkpoints: AuditCheckpointer | None = None
        try:
            checkpoints = _start_audit_checkpoints(settings, engine, checkpoint_key)
            if listening is not None:
                _serve_api(settings, engine, metrics, stop, listening)
            else:
                stop.wait()
        finally:
            retention.stop()
            ingest.stop()
            alerts.stop()
            if checkpoints is not None:
                checkpoints.stop()
            engine.dispose()
            left = ingest.progress.waiting  # not stored (a database down): the broker delivers them again
            unstored = (
                f"; {left} messages not stored are left for the broker to deliver again" if left else ""
            )
            log.info("hub: stopped; %d events stored this run%s", ingest.totals.stored, unstored)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    finally:
        if listening is not None:
            listening.close()  # uvicorn closed it if it served; not if the hub stopped before


def _stop_on_signals() -> tuple[threading.Event, dict[int, Any]]:
    """Turn SIGINT and SIGTERM into an event; return it and the handlers it replaced."""
    stop = threading.Event()
    previous: dict[int, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, lambda *_: stop.set())
    return stop, previous


def _checkpoint_key(settings: HubSettings) -> bytes | None:
    """The audit checkpoints' key where the config asks for checkpoints (:class:`ConfigError` if unset)."""
    from citytally.hub.audit_checkpoints import audit_key

    return audit_key() if settings.audit.checkpoint_file is not None else None


def _start_audit_checkpoints(
    settings: HubSettings, engine: Engine, key: bytes | None
) -> AuditCheckpointer | None:
    """Sign the audit chain's head into the configured file periodically."""
    from citytally.hub.audit_checkpoints import AuditCheckpointer

    path = settings.audit.checkpoint_file
    if path is None or key is None:
        return None
    path = path if path.is_absolute() else settings.base_dir / path
    checkpointer = AuditCheckpointer(engine, path, key, settings.audit.checkpoint_interval_s)
    checkpointer.start()
    log.info("hub: audit checkpoints to %s every %.0f s", path, settings.audit.checkpoint_interval_s)
    return checkpointer


def _serve_api(
    settings: HubSettings, engine: Engine, metrics: HubMetrics, stop: threading.Event, sock: socket.socket
) -> None:
    """Serve on ``sock`` (bound at the start) until ``stop`` is set or a signal arrives; return once the
    server has shut down."""
    import uvicorn

    from citytally.hub.admin_cli import print_first_admin_token
    from citytally.hub.web import SERVER_OPTIONS, create_app

    print_first_admin_token(engine)
    if stop.is_set():  # stopped while the hub started: do not open the port at all
        return
    app = create_app(settings, engine, metrics=metrics)
    # open dashboard live streams never end by themselves, so bound the wait for them
    api = settings.api
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=api.host, port=api.port, log_config=None, timeout_graceful_shutdown=2, **SERVER_OPTIONS
        )
    )

    # While it serves, uvicorn handles the signals itself; a stop that came before (while the hub started)
    # is handed on here. Afterwards it re-raises the signal it caught, which lands on the hub's handler.
    def hand_on() -> None:
        stop.wait()
        server.should_exit = True

    watcher = threading.Thread(target=hand_on, name="hub-api-stop", daemon=True)
    watcher.start()
    try:
        server.run(sockets=[sock])
    finally:
        stop.set()  # the hub stops now either way; this also ends the watcher
        watcher.join()


def register(app: typer.Typer) -> None:
    """Add ``citytally hub`` to the top-level app."""
    app.command("hub")(hub)
