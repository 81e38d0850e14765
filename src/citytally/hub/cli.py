"""``citytally hub`` (ingest + API) and ``citytally edge`` (a camera's pipeline → outbox → broker).

Each command is the wiring point of its process: it builds the parts in order and stops them in reverse.
Heavy imports live inside the command functions.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from citytally.edge.cli import FpsOption, InputSizeOption, Int8Option, MotionGatingOption
from citytally.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from citytally.hub.audit_checkpoints import AuditCheckpointer
    from citytally.hub.config import HubSettings
    from citytally.hub.metrics import HubMetrics

__all__ = ["register", "hub", "edge", "parse_broker"]

log = logging.getLogger(__name__)


def parse_broker(value: str) -> tuple[str, int]:
    """``HOST`` or ``HOST:PORT`` (default port 1883)."""
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = value, "1883"
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"--broker {value!r}: expected HOST or HOST:PORT with a port in 1..65535")
    return host, int(port)


def hub(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Hub config (TOML). Default: built-in defaults.")
    ] = None,
    no_api: Annotated[bool, typer.Option("--no-api", help="Run ingest only, without the API.")] = False,
) -> None:
    """Run the hub: MQTT ingest into the store, and the API and dashboard.

    The store's schema is brought up to date first and the camera registry is synced from the camera
    configs the hub config lists. Stops cleanly on Ctrl-C or SIGTERM (what was received is stored first).
    """
    from citytally.hub.config import load_hub_settings
    from citytally.hub.ingest import Ingest
    from citytally.hub.metrics import HubMetrics
    from citytally.hub.retention import RetentionJob
    from citytally.hub.store import EventWriter, create_store_engine, migrate, redact_url, sync_registry

    settings = load_hub_settings(config)
    cameras = settings.load_cameras()
    url = settings.database.resolved_url()
    engine = create_store_engine(url)
    migrate(engine)
    sync_registry(engine, cameras, {slug: site.model_dump() for slug, site in settings.sites.items()})
    log.info("hub: store %s, %d cameras registered", redact_url(url), len(cameras))
    metrics = HubMetrics()
    metrics.watch_store(engine)
    writer = EventWriter(
        engine,
        topic_prefix=settings.mqtt.topic_prefix,
        accept_unknown_cameras=settings.ingest.accept_unknown_cameras,
        limits=settings.ingest.message_limits(),
    )
    ingest = Ingest(writer, settings.mqtt, settings.ingest, metrics=metrics)
    ingest.start()
    retention = RetentionJob(engine, settings.retention, metrics=metrics)
    retention.start()
    checkpoints = _start_audit_checkpoints(settings, engine)
    try:
        if settings.api.enabled and not no_api:
            _serve_api(settings, engine, metrics)
        else:
            _wait_for_signal()
    finally:
        retention.stop()
        ingest.stop()
        if checkpoints is not None:
            checkpoints.stop()
        engine.dispose()
        log.info("hub: stopped; %d events stored this run", ingest.totals.stored)


def _start_audit_checkpoints(settings: HubSettings, engine: Engine) -> AuditCheckpointer | None:
    """Sign the audit chain's head into the configured file periodically (refuse to start without a key)."""
    from citytally.hub.audit_checkpoints import AuditCheckpointer, audit_key

    path = settings.audit.checkpoint_file
    if path is None:
        return None
    path = path if path.is_absolute() else settings.base_dir / path
    checkpointer = AuditCheckpointer(engine, path, audit_key(), settings.audit.checkpoint_interval_s)
    checkpointer.start()
    log.info("hub: audit checkpoints to %s every %.0f s", path, settings.audit.checkpoint_interval_s)
    return checkpointer


def _serve_api(settings: HubSettings, engine: Engine, metrics: HubMetrics) -> None:
    import uvicorn

    from citytally.hub.admin_cli import print_first_admin_token
    from citytally.hub.api import create_app

    print_first_admin_token(engine)
    app = create_app(settings, engine, metrics=metrics)
    # returns on a signal; open dashboard live streams never end by themselves, so bound the wait for them
    api = settings.api
    uvicorn.run(app, host=api.host, port=api.port, log_config=None, timeout_graceful_shutdown=2)


def _wait_for_signal() -> None:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()


def edge(
    config: Annotated[Path, typer.Option("--config", "-c", help="Camera config (TOML).")],
    broker: Annotated[
        str, typer.Option("--broker", help="MQTT broker HOST or HOST:PORT.")
    ] = "127.0.0.1:1883",
    outbox: Annotated[
        Path | None,
        typer.Option("--outbox", help="Outbox file (default: citytally-outbox-SITE-CAMERA.sqlite3 here)."),
    ] = None,
    topic_prefix: Annotated[str, typer.Option("--topic-prefix", help="First topic level.")] = "citytally",
    tls: Annotated[bool, typer.Option("--tls", help="Connect to the broker with TLS.")] = False,
    username: Annotated[
        str | None, typer.Option("--username", help="Broker user; password from $CITYTALLY_MQTT_PASSWORD.")
    ] = None,
    video: Annotated[
        str | None, typer.Option("--video", help="Source to analyse instead of the config's (file or URL).")
    ] = None,
    fps: FpsOption = None,
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", help="Serve Prometheus metrics (outbox depth) on this port."),
    ] = None,
    motion_gating: MotionGatingOption = False,
    int8: Int8Option = False,
    input_size: InputSizeOption = None,
) -> None:
    """Run one camera's pipeline and publish its events to the hub through a durable outbox.

    Events are committed to the outbox file before they are sent and leave it only when the broker has
    acknowledged them; a broker outage or a restart loses nothing (what is left is sent on the next run).
    """
    from prometheus_client import REGISTRY, start_http_server
    from pydantic import ValidationError

    from citytally.edge.config import load_camera_config
    from citytally.edge.pipeline import PipelineOptions, build_pipeline
    from citytally.hub.config import MqttSettings
    from citytally.hub.outbox import Outbox

    camera = load_camera_config(config)
    host, port = parse_broker(broker)
    try:
        mqtt_settings = MqttSettings(
            host=host, port=port, topic_prefix=topic_prefix, tls=tls, username=username, protocol="5"
        )
    except ValidationError as exc:
        raise ConfigError(f"edge broker options: {exc.errors()[0]['msg']}") from None
    path = outbox or Path(f"citytally-outbox-{camera.site}-{camera.camera}.sqlite3")
    if metrics_port is not None:
        start_http_server(metrics_port, addr="127.0.0.1")
    box = Outbox(
        path,
        mqtt_settings,
        client_id=f"citytally-edge-{camera.site}-{camera.camera}",
        drain_timeout_s=30.0,
        registry=REGISTRY,
    )
    box.start()
    try:
        options = PipelineOptions(
            target_fps=fps,
            progress=False,
            motion_gating=motion_gating,
            detector_variant="int8" if int8 else "fp32",
            input_size=input_size,
        )
        pipeline = build_pipeline(camera, box, options, video)
        result = pipeline.run()  # closes the outbox last, after waiting for it to drain
    finally:
        box.close()
    typer.echo(
        f"analysed {result.frames} frames; {result.totals.events} events; {box.depth} still queued in {path}"
    )
    if result.error is not None:
        raise result.error
    if result.interrupted:
        raise typer.Exit(130)


def register(app: typer.Typer) -> None:
    """Add ``citytally hub`` and ``citytally edge`` to the top-level app."""
    app.command("hub")(hub)
    app.command("edge")(edge)
