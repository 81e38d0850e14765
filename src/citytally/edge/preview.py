"""The preview tap: the one place where frames leave the edge, always masked, only on an operator's request.

An operator placing a camera may ask for a placement preview (:class:`PreviewRequest`: a PNG at a given
second and/or a short MP4), and for a *still*: the same masked frame without the overlay, which the hub's
geometry editor draws lines and zones over. :class:`PreviewTap` takes the requested frames from the running
pipeline and masks each the moment it is seen, with :mod:`citytally.edge.privacy` (every person, face and
vehicle filled solid), so no unmasked pixel is ever kept; the line and zone overlay, with the run's final
counts, is drawn at the end. Track ids are never drawn. Without a request nothing here runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from citytally.arrays import Image
from citytally.edge.analytics.intervals import RunTotals
from citytally.edge.config import CameraConfig
from citytally.edge.detections import Detections
from citytally.edge.privacy import (
    LineOverlay,
    PreviewMasker,
    PreviewOverlay,
    PreviewWriter,
    ZoneOverlay,
    render_preview,
    write_png,
)
from citytally.edge.source import Frame, VideoSource
from citytally.errors import ConfigError

__all__ = ["PreviewRequest", "PreviewTap"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreviewRequest:
    """An operator's request for a masked placement preview (nothing is written without one)."""

    png: Path | None = None
    at_seconds: float = 0.0
    still: Path | None = None
    video: Path | None = None
    video_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.png is not None and self.png.suffix.lower() != ".png":
            raise ConfigError(f"--preview {self.png}: the preview image must be a .png file")
        if self.still is not None and self.still.suffix.lower() != ".png":
            raise ConfigError(f"--still {self.still}: the still must be a .png file")
        if self.video is not None and self.video.suffix.lower() != ".mp4":
            raise ConfigError(f"--preview-video {self.video}: the preview video must be a .mp4 file")
        if not 0 <= self.at_seconds <= 86_400:
            raise ConfigError(f"--preview-at {self.at_seconds:g}: must be 0 to 86400 seconds into the video")
        if not 0 < self.video_seconds <= 600:
            raise ConfigError(f"preview video of {self.video_seconds:g} s: must be over 0 and at most 600 s")


class PreviewTap:
    """Takes the requested preview frame(s) from the running pipeline, masking them at once.

    Only masked pixels are kept: the chosen frame is masked the moment it is seen, and its overlay (with
    the run's final counts) is drawn at the end. Track ids are never drawn.
    """

    def __init__(
        self, request: PreviewRequest, config: CameraConfig, source: VideoSource, fps: float | None = None
    ) -> None:
        """``fps``: the rate frames are analysed (and offered) at, the source's own by default."""
        self.request = request
        self.config = config
        self.written_png: Path | None = None
        self.written_still: Path | None = None
        self._masked_png: Image | None = None
        # Its own low-threshold detector: the preview must not depend on the counting thresholds.
        # A camera's own NanoDet masks too; a YOLO camera's preview is masked by the shipped NanoDet.
        self._masker = PreviewMasker.for_camera(config)
        self._video: PreviewWriter | None = None
        if request.video is not None:
            width, height = source.size
            rate = fps or source.fps  # the video plays the analysed frames at the pace they were taken
            max_frames = max(1, round(request.video_seconds * rate))
            self._video = PreviewWriter(request.video, width, height, rate, max_frames)

    def offer(self, frame: Frame, tracked: Detections) -> None:
        """Look at one analysed frame: mask and keep it if the request wants it, else drop it."""
        wanted = self.request.png is not None or self.request.still is not None
        want_png = wanted and self._masked_png is None
        want_png = want_png and frame.pts_seconds >= self.request.at_seconds
        want_video = self._video is not None and not self._video.full
        if not (want_png or want_video):
            return
        masked = self._mask(frame.image, tracked)
        if want_png:
            self._masked_png = masked
        if want_video and self._video is not None:
            self._video.write(self._draw(masked, with_counts=None))

    def _mask(self, image: Image, tracked: Detections) -> Image:
        return self._masker.mask(image, tracked.xyxy)

    def _draw(self, masked: Image, with_counts: RunTotals | None) -> Image:
        lines = []
        for line in self.config.lines:
            caption = ""
            if with_counts is not None:
                caption = "  ".join(
                    f"{d} {sum(with_counts.lines.get(line.name, {}).get(d, {}).values())}"
                    for d in line.directions
                )
            lines.append(LineOverlay(line.name, line.p1, line.p2, caption))
        zones = []
        for zone in self.config.zones:
            caption = ""
            if with_counts is not None:
                peak = sum(with_counts.zone_peaks.get(zone.name, {}).values())
                caption = f"peak {peak}"
            zones.append(ZoneOverlay(zone.name, zone.polygon, caption))
        overlay = PreviewOverlay(lines, zones, f"{self.config.site}/{self.config.camera}")
        # Already masked: render with no boxes only to draw the overlay on a copy.
        return render_preview(masked, Detections.empty(), np.zeros((0, 4), np.float32), overlay)

    def finish(self, totals: RunTotals) -> None:
        """Draw the overlay, with the run's ``totals``, on the kept masked frame and write the PNG; write
        the still (the masked frame alone) if asked for."""
        if self.request.png is not None and self._masked_png is not None:
            write_png(self.request.png, self._draw(self._masked_png, with_counts=totals))
            self.written_png = self.request.png
        if self.request.still is not None and self._masked_png is not None:
            write_png(self.request.still, self._masked_png)
            self.written_still = self.request.still
        wanted = [p for p in (self.request.png, self.request.still) if p is not None]
        if wanted and self._masked_png is None:
            log.warning(
                "no frame at or after %g s, the preview's time: the video ended before it; %s not written",
                self.request.at_seconds,
                " and ".join(str(p) for p in wanted),
            )

    def close(self) -> None:
        """Finish the preview video, if one was asked for."""
        if self._video is not None:
            self._video.close()
