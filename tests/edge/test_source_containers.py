"""Intact but unusual containers (edit lists) read as players read them; real damage still shows.

The files are real MP4s written here with PyAV's H.264 encoder and FFmpeg's MP4 muxer, which writes an edit
list whenever the first frames come before time 0 (a clip cut from a camera recording) or B-frames delay
presentation (the encoder's default).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from citytally.edge.source import Frame, open_source
from citytally.errors import SourceError

pytestmark = pytest.mark.integration

FPS = 10
FRAMES = 30


def write_mp4(path: Path, *, before_zero: int = 0, b_frames: int = 0, frames: int = FRAMES) -> Path:
    """A 64x48 H.264 MP4 whose first ``before_zero`` frames are timed before 0 (so hidden by an edit list)."""
    with av.open(str(path), "w", format="mp4", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = Fraction(1, FPS)
        stream.options = {"bf": str(b_frames), "g": "10"}
        for i in range(frames):
            image = np.full((48, 64, 3), (i * 8) % 256, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = i - before_zero, Fraction(1, FPS)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def has_edit_list(path: Path) -> bool:
    return b"elst" in path.read_bytes()


def read_all(path: Path) -> tuple[list[Frame], SourceError | None]:
    source = open_source(path)
    frames: list[Frame] = []
    try:
        for frame in source:
            frames.append(frame)
    except SourceError as exc:
        return frames, exc
    return frames, None


@pytest.mark.parametrize(
    ("before_zero", "b_frames", "shown"),
    [(0, 0, FRAMES), (5, 0, FRAMES - 5), (0, 2, FRAMES), (5, 2, FRAMES - 5)],
)
def test_edit_list_is_not_damage(tmp_path: Path, before_zero: int, b_frames: int, shown: int) -> None:
    path = write_mp4(tmp_path / "clip.mp4", before_zero=before_zero, b_frames=b_frames)
    if before_zero or b_frames:
        assert has_edit_list(path)  # the case under test really is in the file
    frames, error = read_all(path)
    assert error is None
    assert len(frames) == shown
    pts = [f.pts_seconds for f in frames]
    assert pts[0] == pytest.approx(0.0)
    assert np.allclose(np.diff(pts), 1 / FPS)


@pytest.mark.parametrize("before_zero", [0, 5])
def test_truncated_mp4_with_or_without_edit_list_is_damage(tmp_path: Path, before_zero: int) -> None:
    whole = write_mp4(tmp_path / "whole.mp4", before_zero=before_zero, frames=120)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.6)])
    frames, error = read_all(cut)
    assert error is not None
    assert "truncated or damaged" in str(error)
    assert 0 < len(frames) < 120 - before_zero
