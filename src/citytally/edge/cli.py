"""The edge's commands: ``citytally analyze`` (a video to a JSONL file) and ``citytally edge`` (a camera's
pipeline → durable outbox → MQTT broker → hub).

``edge`` is the wiring point of an edge process: it builds the parts in order and stops them in reverse.
Heavy imports live inside the command functions.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from citytally.errors import ConfigError, SourceError

__all__ = [
    "register",
    "analyze",
    "edge",
    "parse_broker",
    "FpsOption",
    "MotionGatingOption",
    "Int8Option",
    "InputSizeOption",
]

# How to run the pipeline: options shared by `citytally analyze` and `citytally edge`.
FpsOption = Annotated[float | None, typer.Option("--fps", help="Analyse at most this many frames a second.")]
MotionGatingOption = Annotated[
    bool, typer.Option("--motion-gating", help="Detect only in the parts of each frame that moved.")
]
Int8Option = Annotated[
    bool,
    typer.Option(
        "--int8",
        help="Use the shipped NanoDet's reduced-precision (int8) conversion (not with a model of the camera "
        "config's own).",
    ),
]
InputSizeOption = Annotated[
    int | None,
    typer.Option(
        "--input-size",
        metavar="PIXELS",
        help="Detector input's longer side, a multiple of 32 from 64 to 1920 (default: the camera config's "
        "[detector] input_size, else the model's: 416 for NanoDet, 640 for YOLO). Smaller is faster but "
        "finds fewer small or distant road users.",
    ),
]


def analyze(
    video: Annotated[
        list[str],
        typer.Argument(
            help="Video file, several files or a glob pattern (one camera's consecutive files, analysed as "
            "one stream), or a stream URL (rtsp://, http(s)://).",
            show_default=False,
        ),
    ],
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Camera config (TOML): lines, zones, thresholds.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for events.jsonl and summary.json.")],
    fps: FpsOption = None,
    preview: Annotated[
        Path | None,
        typer.Option(
            "--preview", help="Write a masked placement preview PNG here (people, faces, vehicles blanked)."
        ),
    ] = None,
    preview_at: Annotated[
        float, typer.Option("--preview-at", help="Seconds into the video of the preview frame.")
    ] = 0.0,
    preview_video: Annotated[
        Path | None, typer.Option("--preview-video", help="Also write a short masked preview video (.mp4).")
    ] = None,
    still: Annotated[
        Path | None,
        typer.Option(
            "--still",
            help="Write the preview frame, masked, without lines or zones (.png): the hub's geometry "
            "editor draws over it.",
        ),
    ] = None,
    motion_gating: MotionGatingOption = False,
    int8: Int8Option = False,
    input_size: InputSizeOption = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
) -> None:
    """Count road users in VIDEO: writes OUT/events.jsonl (event schema v1) and OUT/summary.json.

    Several files (or a quoted glob pattern, expanded in name order) are one camera's consecutive
    recordings: timestamps and tracks continue from one file into the next.

    A missing, corrupt or truncated video or a bad config is one line on stderr and exit status 2; a
    damaged file still has its good frames analysed and their events and summary written first. A run
    replaces the one in OUT, but one interrupted (Ctrl-C) leaves a finished run there as it was and writes
    its own into OUT/interrupted/.
    """
    from citytally.edge.pipeline import PipelineOptions, analyze_video
    from citytally.edge.preview import PreviewRequest

    request = None
    if preview is not None or preview_video is not None or still is not None:
        request = PreviewRequest(png=preview, at_seconds=preview_at, video=preview_video, still=still)
    options = PipelineOptions(
        target_fps=fps,
        motion_gating=motion_gating,
        detector_variant="int8" if int8 else "fp32",
        input_size=input_size,
        progress=not no_progress,
        preview=request,
    )
    stop = StopOnSignal()
    result = analyze_video(video, config, out, options, keep_finished=True)
    written = result.set_aside or out
    typer.echo(
        f"analysed {result.frames} frames ({result.video_seconds:.1f} s of video) "
        f"in {result.wall_seconds:.1f} s; {result.totals.events} events → {written / 'events.jsonl'}, "
        f"totals → {written / 'summary.json'}"
    )
    if result.set_aside is not None:
        typer.echo(
            f"citytally: the finished run already in {out} is kept; this one's is in {written}", err=True
        )
    if result.preview_png is not None:
        typer.echo(f"masked preview → {result.preview_png}")
    if result.preview_still is not None:
        typer.echo(f"masked still → {result.preview_still}")
    if (warning := result.quality.warning()) is not None:
        typer.echo(f"citytally: warning: {warning}", err=True)
    if result.error is not None:
        raise result.error
    if result.interrupted:
        raise typer.Exit(stop.status)


#: Reconnect attempts of an edge's stream: in effect never given up (about a year at 30 s apart).
_FOREVER = 1_000_000


class StopOnSignal:
    """A service manager's stop (SIGTERM: ``systemctl stop``, ``docker stop``) ends a run as Ctrl-C does:
    the open interval is counted, flushed into the outbox and sent or kept, and the run says what it did.
    Without this the process died at once, losing up to an interval of counts without a word."""

    def __init__(self) -> None:
        self.signal: int | None = None
        if threading.current_thread() is threading.main_thread():  # only there can Python take a signal
            signal.signal(signal.SIGTERM, self._stop)
            signal.signal(signal.SIGINT, self._stop)

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        from citytally.edge.source import request_stop

        request_stop()  # also where PyAV would swallow the KeyboardInterrupt (a stream being opened)
        first = self.signal is None
        self.signal = self.signal or signum
        if first or signum == signal.SIGINT:  # Ctrl-C again: stop waiting as well
            raise KeyboardInterrupt

    @property
    def status(self) -> int:
        """The exit status of an interrupted run: 128 + the signal, as a shell reports one."""
        return 128 + (self.signal or signal.SIGINT)


def parse_broker(value: str) -> tuple[str, int]:
    """``HOST`` or ``HOST:PORT`` (default port 1883); ``mqtt://`` before it is allowed, an IPv6 address is
    written in brackets (``[::1]:1883``). What could never connect is refused here, not retried for ever."""
    scheme, sep, rest = value.partition("://")
    if sep:
        if scheme.lower() not in ("mqtt", "tcp"):
            raise ConfigError(
                f"--broker {value!r}: expected HOST or HOST:PORT (mqtt:// may precede it; for TLS add --tls)"
            )
        rest = rest.removesuffix("/")
    else:
        rest = value
    if rest.startswith("["):  # [IPv6] or [IPv6]:PORT
        host, bracket, after = rest[1:].partition("]")
        port = after[1:] if after.startswith(":") else ("1883" if bracket and not after else "")
    elif rest.count(":") > 1:
        raise ConfigError(f"--broker {value!r}: write an IPv6 address in brackets, e.g. [::1]:1883")
    else:
        host, colon, port = rest.rpartition(":")
        if not colon:
            host, port = rest, "1883"
    if not host or "/" in host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"--broker {value!r}: expected HOST or HOST:PORT with a port in 1..65535")
    return host, int(port)


def edge(
    config: Annotated[Path, typer.Option("--config", "-c", help="Camera config (TOML).")],
    broker: Annotated[
        str, typer.Option("--broker", help="MQTT broker HOST or HOST:PORT (IPv6 in brackets: [::1]:1883).")
    ] = "127.0.0.1:1883",
    outbox: Annotated[
        Path | None,
        typer.Option("--outbox", help="Outbox file (default: citytally-outbox-SITE-CAMERA.sqlite3 here)."),
    ] = None,
    topic_prefix: Annotated[str, typer.Option("--topic-prefix", help="First topic level.")] = "citytally",
    tls: Annotated[bool, typer.Option("--tls", help="Connect to the broker with TLS.")] = False,
    username: Annotated[
        str | None,
        typer.Option(
            "--username",
            help="Broker user (the site's slug under examples/mosquitto.acl); password from "
            "$CITYTALLY_MQTT_PASSWORD.",
        ),
    ] = None,
    video: Annotated[
        str | None, typer.Option("--video", help="Source to analyse instead of the config's (file or URL).")
    ] = None,
    fps: FpsOption = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=1,
            max=65535,
            help="Serve Prometheus metrics (outbox depth) on this port of 127.0.0.1 (scrape it from this "
            "machine, or through a proxy).",
        ),
    ] = None,
    motion_gating: MotionGatingOption = False,
    int8: Int8Option = False,
    input_size: InputSizeOption = None,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="No progress bar (shown for a file, on a terminal).")
    ] = False,
) -> None:
    """Run one camera's pipeline and publish its events to the hub through a durable outbox.

    Events are committed to the outbox file before they are sent and leave it only when the hub has
    confirmed them; a broker outage or a restart loses nothing (what is left is sent on the next run).
    While the outbox's disk is full or failing, events are held in memory and written when it recovers.
    """
    from prometheus_client import REGISTRY, disable_created_metrics, start_http_server
    from pydantic import ValidationError

    from citytally.edge.config import load_reporting_camera_config
    from citytally.edge.pipeline import PipelineOptions, build_pipeline
    from citytally.edge.source import Reconnect, is_stream_url, resolve_inputs
    from citytally.transport.mqtt import MqttSettings
    from citytally.transport.outbox import Outbox

    camera = load_reporting_camera_config(config)
    host, port = parse_broker(broker)
    try:
        mqtt_settings = MqttSettings(
            host=host, port=port, topic_prefix=topic_prefix, tls=tls, username=username, protocol="5"
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        option = {"topic_prefix": "--topic-prefix", "username": "--username"}.get(
            str(first["loc"][0]), "--broker"
        )
        raise ConfigError(f"{option}: {first['msg']}") from None
    path = outbox or Path(f"citytally-outbox-{camera.site}-{camera.camera}.sqlite3")
    if metrics_port is not None:
        # as the hub's: no `_created` series doubling the counters'
        disable_created_metrics()  # type: ignore[no-untyped-call]
        try:
            start_http_server(metrics_port, addr="127.0.0.1")
        except OSError as exc:
            raise ConfigError(f"--metrics-port {metrics_port}: {exc.strerror or exc}") from None
    # what can be checked without the outbox and the broker is checked first
    options = PipelineOptions(
        target_fps=fps,
        # a file's frames are counted on a terminal; a stream has no end, and a service's log no bar
        progress=not is_stream_url(video or camera.source.uri) and not no_progress and sys.stderr.isatty(),
        motion_gating=motion_gating,
        detector_variant="int8" if int8 else "fp32",
        input_size=input_size,
        # A service: a camera down when it starts, or away for longer than a few minutes, is waited for.
        reconnect=Reconnect(max_attempts=_FOREVER, at_start=True),
    )
    for uri in resolve_inputs([video]) if video is not None else ():
        if "://" not in uri and not Path(uri).is_file():
            raise SourceError(f"{uri}: no such file")
    box = Outbox(
        path,
        mqtt_settings,
        client_id=f"citytally-edge-{camera.site}-{camera.camera}",
        drain_timeout_s=30.0,
        registry=REGISTRY,
    )
    stop = StopOnSignal()
    box.start()
    try:
        try:
            pipeline = build_pipeline(camera, box, options, video)
        except KeyboardInterrupt:
            typer.echo("stopped before the video opened; nothing analysed", err=True)
            raise typer.Exit(stop.status) from None
        result = pipeline.run()  # closes the outbox last, after waiting for it to drain
    finally:
        box.close()
    lost = f"; {box.lost} lost (the outbox file refused them)" if box.lost else ""
    typer.echo(
        f"analysed {result.frames} frames; {result.totals.events} events; {box.depth} still queued in {path}"
        + lost
    )
    if result.error is not None:
        raise result.error
    if result.interrupted:
        raise typer.Exit(stop.status)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the top-level citytally app."""
    app.command("analyze")(analyze)
    app.command("edge")(edge)
