"""Subcommands of the edge area. Heavy imports live inside the command functions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = [
    "register",
    "analyze",
    "demo",
    "FpsOption",
    "MotionGatingOption",
    "Int8Option",
    "InputSizeOption",
]

DEFAULT_DEMO_OUT = Path("demo-out")

# How to run the pipeline: options shared by `citytally analyze` and `citytally edge`.
FpsOption = Annotated[float | None, typer.Option("--fps", help="Analyse at most this many frames a second.")]
MotionGatingOption = Annotated[
    bool, typer.Option("--motion-gating", help="Detect only in the parts of each frame that moved.")
]
Int8Option = Annotated[bool, typer.Option("--int8", help="Use the reduced-precision (int8) detector.")]
InputSizeOption = Annotated[
    int | None,
    typer.Option(
        "--input-size",
        metavar="PIXELS",
        help="Detector input's longer side, a multiple of 32 (default: the model's, 416). Smaller is "
        "faster but finds fewer small or distant road users.",
    ),
]


def analyze(
    video: Annotated[Path, typer.Argument(help="Video file (or stream URL) to analyse.")],
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
    motion_gating: MotionGatingOption = False,
    int8: Int8Option = False,
    input_size: InputSizeOption = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
) -> None:
    """Count road users in VIDEO: writes OUT/events.jsonl (event schema v1) and OUT/summary.json.

    A missing, corrupt or truncated video or a bad config is one line on stderr and exit status 2; a
    damaged file still has its good frames analysed and their events and summary written first.
    """
    from citytally.edge.pipeline import PipelineOptions, PreviewRequest, analyze_video

    request = None
    if preview is not None or preview_video is not None:
        request = PreviewRequest(png=preview, at_seconds=preview_at, video=preview_video)
    options = PipelineOptions(
        target_fps=fps,
        motion_gating=motion_gating,
        detector_variant="int8" if int8 else "fp32",
        input_size=input_size,
        progress=not no_progress,
        preview=request,
    )
    result = analyze_video(video, config, out, options)
    typer.echo(
        f"analysed {result.frames} frames ({result.video_seconds:.1f} s of video) "
        f"in {result.wall_seconds:.1f} s; {result.totals.events} events → {out / 'events.jsonl'}, "
        f"totals → {out / 'summary.json'}"
    )
    if result.preview_png is not None:
        typer.echo(f"masked preview → {result.preview_png}")
    if result.error is not None:
        raise result.error
    if result.interrupted:
        raise typer.Exit(130)


def demo(
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
) -> None:
    """Analyse OpenCV's vtest.avi end to end into an embedded hub, then serve the live dashboard."""
    from citytally.demo import run_demo

    run_demo(
        out=out,
        video=video,
        config=config,
        progress=not no_progress,
        serve=serve,
        serve_for=serve_for,
        port=port,
    )


def register(app: typer.Typer) -> None:
    """Add this area's commands to the top-level citytally app."""
    app.command("analyze")(analyze)
    app.command("demo")(demo)
