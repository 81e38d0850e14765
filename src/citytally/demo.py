"""``citytally demo``: a real video through the whole pipeline, step by step.

Each step is a small function so that later steps (the hub's store and the live dashboard) can be appended
to :func:`run_demo` without touching the edge part.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from citytally.errors import ConfigError, SourceError

if TYPE_CHECKING:
    from rich.console import Console

    from citytally.edge.cli import StopOnSignal
    from citytally.edge.config import CameraConfig
    from citytally.edge.pipeline import RunResult
    from citytally.hub.embedded import EmbeddedHub

__all__ = ["DemoOutputs", "run_demo", "default_video", "default_config", "demo_command", "register"]

#: Seconds into vtest.avi of the preview frame: a busy moment, three people crossing the east line.
PREVIEW_AT_S = 72.0

DEFAULT_DEMO_OUT = Path("demo-out")

#: The embedded hub's SQLite file inside the demo's output directory.
HUB_DATABASE = "hub.sqlite3"


@dataclass(frozen=True)
class DemoOutputs:
    """Where the demo wrote its files."""

    directory: Path
    events: Path
    summary: Path
    preview: Path


def default_video() -> Path:
    """The cached vtest.avi that ``scripts/fetch-vtest.sh`` puts in place."""
    cache = os.environ.get("CITYTALLY_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "citytally"
    )
    return Path(cache) / "vtest.avi"


def default_config() -> Path:
    """``examples/vtest.toml`` from the working directory, else from the source checkout."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = base / "examples" / "vtest.toml"
        if candidate.is_file():
            return candidate
    raise ConfigError(
        "examples/vtest.toml not found: run the demo from the citytally checkout, or pass --config"
    )


def run_demo(
    out: Path = Path("demo-out"),
    video: Path | None = None,
    config: Path | None = None,
    progress: bool = True,
    console: Console | None = None,
    serve: bool = True,
    serve_for: float | None = None,
    port: int | None = None,
    simulated_day: bool = True,
    stop: StopOnSignal | None = None,
) -> RunResult:
    """Run the demo's steps in order and return the edge run's result.

    Edge and hub run in this one process: events go to ``events.jsonl`` and, over an in-process bus, into
    an embedded SQLite hub (``hub.sqlite3``), which then serves the API and the dashboard on localhost until
    interrupted (or for ``serve_for`` seconds). ``serve=False`` stops after the analysis. With
    ``simulated_day`` (when serving) the store also gets a day of SUMO-simulated traffic at three
    junctions (labelled as simulated), so that every dashboard panel has data. ``stop``: a service
    manager's stop (SIGTERM) ends the demo as Ctrl-C ends its serving, also during the analysis (what was
    counted is kept), and then nothing is served.
    """
    from rich.console import Console

    console = console or Console()
    if serve and port is not None:  # said now, not after the analysis and the simulated day
        from citytally.hub.web import bind_port

        bind_port("127.0.0.1", port, "--port").close()
    video, config = _check_inputs(video, config)
    camera = _as_of_now(_load_config(config))
    outputs = _outputs(out)
    console.rule(f"[bold]citytally demo[/]: {camera.site}/{camera.camera}")
    hub = _open_hub(outputs, camera)
    try:
        result = _analyse(video, camera, outputs, progress, hub)
        _print_counts(console, camera, result)
        _print_incidents(console, camera, outputs)
        _print_outputs(console, outputs, result)
        console.print(
            f"hub store (SQLite, embedded):         [bold]{outputs.directory / HUB_DATABASE}[/] "
            f"({hub.totals.stored} events stored)"
        )
        if result.error is not None:
            raise result.error
        serve = serve and not (stop is not None and stop.signal == signal.SIGTERM)
        if simulated_day and serve:  # for the dashboard: an analysis-only run keeps its store to the video
            _add_simulated_day(console, hub)
        if serve:
            _serve_dashboard(console, hub, port, serve_for)
    finally:
        hub.close()
    return result


def _as_of_now(camera: CameraConfig) -> CameraConfig:
    """Date the recording a few minutes ago, so that the dashboard's default view (today) shows it."""
    from datetime import UTC, datetime, timedelta

    start = (datetime.now(UTC) - timedelta(minutes=5)).replace(second=0, microsecond=0)
    return camera.model_copy(update={"start_time": start})


def _add_simulated_day(console: Console, hub: EmbeddedHub) -> None:
    """A day of SUMO traffic at three Cologne junctions, if the scenario data is beside the checkout."""
    from citytally.hub.dashboard.simulated import SIMULATED_SITE, default_resco_dir, load_simulated_day

    resco = default_resco_dir()
    if not resco.is_dir():
        console.print(f"no simulated day: {resco} (SUMO scenarios; or set CITYTALLY_RESCO) is not there")
        return
    with console.status("simulating a day of traffic at three junctions with SUMO..."):
        stored = load_simulated_day(hub.engine, resco)
    console.print(f"SIMULATED traffic (SUMO, site {SIMULATED_SITE}): {stored} events stored")


def _open_hub(outputs: DemoOutputs, camera: CameraConfig) -> EmbeddedHub:
    """A fresh embedded hub for this run (a second run replaces the first one's store)."""
    from citytally.hub.embedded import open_embedded_hub

    database = outputs.directory / HUB_DATABASE
    try:
        outputs.directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file of that name, or one on the way to it
        raise ConfigError(f"--out {outputs.directory}: not a folder it can use ({exc.strerror})") from None
    for suffix in ("", "-wal", "-shm"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)
    return open_embedded_hub(database, cameras=[camera])


def _serve_dashboard(console: Console, hub: EmbeddedHub, port: int | None, serve_for: float | None) -> None:
    """Serve API and dashboard on localhost, logged in with a fresh admin token (no default login exists)."""
    import time

    from citytally.hub.admin_cli import create_first_admin
    from citytally.hub.dashboard.server import serve
    from citytally.hub.retention import RetentionJob

    issued = create_first_admin(hub.engine, actor="demo")
    if issued is None:  # the store is new for every demo run, so this means someone else got there first
        raise ConfigError(f"{hub.settings.database.url}: the demo's fresh store already had tokens")
    server = serve(hub.settings, hub.engine, port=port)
    # what the register and the assessment promise about deletion holds here too, as in `citytally hub`
    retention = RetentionJob(hub.engine, hub.settings.retention)
    retention.start()
    try:  # a stop while these lines are written stops the serving as one while it waits does
        console.rule("[bold]dashboard[/]")
        console.print(f"dashboard (logged in as admin): [bold]{server.login_url(issued.secret)}[/]")
        console.print(f"admin token, shown once:        {issued.secret}")
        console.print(f"public register:                {server.base_url}/register")
        console.print(f"privacy impact assessment:      {server.base_url}/pia")
        console.print(f"API and its OpenAPI:            {server.base_url}/docs")
        if serve_for is not None:
            time.sleep(serve_for)
        else:
            console.print("Serving until you press Ctrl+C.")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        retention.stop()
        server.stop()


def _check_inputs(video: Path | None, config: Path | None) -> tuple[Path, Path]:
    video = video or default_video()
    if not video.is_file():
        raise SourceError(
            f"{video}: no such video; run scripts/fetch-vtest.sh (make setup) to fetch vtest.avi"
        )
    return video, config or default_config()


def _load_config(config: Path) -> CameraConfig:
    from citytally.edge.config import load_reporting_camera_config

    return load_reporting_camera_config(config)  # its events go to the (embedded) hub


def _outputs(out: Path) -> DemoOutputs:
    return DemoOutputs(out, out / "events.jsonl", out / "summary.json", out / "preview.png")


def _analyse(
    video: Path, camera: CameraConfig, outputs: DemoOutputs, progress: bool, hub: EmbeddedHub
) -> RunResult:
    from citytally.edge.pipeline import PipelineOptions, analyze_video
    from citytally.edge.preview import PreviewRequest

    options = PipelineOptions(
        progress=progress, preview=PreviewRequest(png=outputs.preview, at_seconds=PREVIEW_AT_S)
    )
    return analyze_video(video, camera, outputs.directory, options, also=hub.bus)


def _print_counts(console: Console, camera: CameraConfig, result: RunResult) -> None:
    from rich.table import Table

    table = Table(title="Line crossings (whole video)", title_justify="left")
    for column in ("line", "direction", "class", "count"):
        table.add_column(column, justify="right" if column == "count" else "left")
    for line in camera.lines:
        counted = result.totals.lines.get(line.name, {})
        for direction in line.directions:
            by_class = counted.get(direction, {}) or {"person": 0}
            for cls, count in sorted(by_class.items()):
                table.add_row(line.name, direction, cls, str(count))
    console.print(table)
    zones = Table(title="Zone occupancy (largest number present at once)", title_justify="left")
    for column in ("zone", "class", "peak"):
        zones.add_column(column, justify="right" if column == "peak" else "left")
    for zone in camera.zones:
        for cls, peak in sorted((result.totals.zone_peaks.get(zone.name) or {"person": 0}).items()):
            zones.add_row(zone.name, cls, str(peak))
    console.print(zones)
    console.print(
        f"{result.frames} frames ({result.video_seconds:.1f} s of video) analysed in "
        f"{result.wall_seconds:.1f} s ({result.frames / max(result.wall_seconds, 1e-9):.1f} frames/s); "
        f"{result.totals.events} events"
    )


def _print_incidents(console: Console, camera: CameraConfig, outputs: DemoOutputs) -> None:
    """One row per incident the rules raised (its latest event), times from the video's start."""
    import json

    from rich.table import Table

    from citytally.events import IncidentEvent

    latest: dict[str, IncidentEvent] = {}
    raised: dict[str, datetime] = {}  # the onset's end: when the rule raised it
    with outputs.events.open(encoding="utf-8") as lines:
        for line in lines:
            if '"incident"' in line and (body := json.loads(line)).get("type") == "incident":
                event = IncidentEvent.model_validate(body)
                key = str(event.incident_id or event.id)
                latest[key] = event
                raised.setdefault(key, event.end)
    if not latest:
        return
    began = camera.start_time

    def at(moment: datetime) -> str:
        seconds = (moment - began).total_seconds() if began is not None else 0.0
        return f"{int(seconds // 60)}:{seconds % 60:04.1f}"

    table = Table(title="Incidents (times from the video's start)", title_justify="left")
    for column in ("incident", "place", "began", "raised", "ended", "numbers"):
        table.add_column(column, no_wrap=column in ("began", "raised", "numbers"))
    for key, event in latest.items():  # one number a line: the table fits an 80-column terminal
        details = {name: value for name, value in event.details.items() if name != "stream_ended"}
        numbers = "\n".join(_number(name, value) for name, value in details.items())
        ended = "ongoing" if event.phase not in (None, "cleared") else at(event.end)
        if event.details.get("stream_ended"):
            ended += "\nvideo ended"
        place = event.zone or event.line or ""
        table.add_row(
            event.incident.replace("_", " "), place, at(event.start), at(raised[key]), ended, numbers
        )
    console.print(table)


def _number(key: str, value: float | int | str) -> str:
    """``stopped_s``, 79 → "stopped 79 s"; ``vehicles``, 2 → "vehicles 2"."""
    if key.endswith("_s"):
        return f"{key[:-2].replace('_', ' ')} {value} s"
    return f"{key.replace('_', ' ')} {value}"


def _print_outputs(console: Console, outputs: DemoOutputs, result: RunResult) -> None:
    console.print(f"events (schema v1, one JSON per line): [bold]{outputs.events}[/]")
    console.print(f"totals:                               [bold]{outputs.summary}[/]")
    if result.preview_png is not None:
        console.print(f"masked placement preview:             [bold]{result.preview_png}[/]")


def demo_command(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Where the demo writes its files.")
    ] = DEFAULT_DEMO_OUT,
    video: Annotated[
        Path | None, typer.Option("--video", help="Video (default: the cached vtest.avi).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Camera config (default: examples/vtest.toml).")
    ] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the dashboard on the demo's data afterwards.")
    ] = True,
    serve_for: Annotated[
        float | None,
        typer.Option("--serve-for", min=0, help="Stop serving after this many seconds (default: Ctrl+C)."),
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="Dashboard port (default: a free one).")
    ] = None,
    simulated_day: Annotated[
        bool,
        typer.Option(
            "--simulated-day/--no-simulated-day",
            help="Also load a day of SUMO-simulated traffic at three junctions (labelled simulated).",
        ),
    ] = True,
) -> None:
    """Analyse OpenCV's vtest.avi end to end into an embedded hub, then serve the live dashboard.

    Ctrl-C during the analysis stops it and serves what was counted; Ctrl-C, or a service manager's stop
    (SIGTERM), while serving stops the demo. SIGTERM during the analysis stops it and serves nothing (exit
    status 143)."""
    from citytally.edge.cli import StopOnSignal

    stop = StopOnSignal()
    try:
        result = run_demo(
            out=out,
            video=video,
            config=config,
            progress=not no_progress,
            serve=serve,
            serve_for=serve_for,
            port=port,
            simulated_day=simulated_day,
            stop=stop,
        )
    except KeyboardInterrupt:  # between the analysis and the serving (the simulated day being loaded)
        typer.echo("stopped", err=True)
        raise typer.Exit(stop.status) from None
    if result.interrupted and stop.signal == signal.SIGTERM:
        raise typer.Exit(stop.status)


def register(app: typer.Typer) -> None:
    """Add ``citytally demo`` to the top-level app."""
    app.command("demo")(demo_command)
