"""Incident snapshots: one masked still per incident, written beside the run's events; off unless asked for.

An operator may turn them on per camera (``[incidents] snapshots = true``). When an incident opens, the
frame it opened on is masked at once with the preview's masker
(:class:`citytally.edge.privacy.PreviewMasker`: every person, face and vehicle filled solid by its own
low-threshold detector, plus every tracked box), the incident's zone or line is drawn on it, and it is
written as ``<out>/snapshots/<incident_id>.png``. No unmasked pixel is kept, no track id is drawn, and
nothing here sends the image anywhere: it stays on the edge like the placement preview.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from citytally.arrays import Image
from citytally.edge.config import CameraConfig
from citytally.edge.detections import Detections
from citytally.edge.privacy import (
    LineOverlay,
    PreviewMasker,
    PreviewOverlay,
    ZoneOverlay,
    render_preview,
    write_png,
)
from citytally.errors import PrivacyError
from citytally.events import IncidentEvent

__all__ = ["SnapshotTap", "snapshot_path"]

log = logging.getLogger(__name__)

#: At most this many snapshots in one run: an alarm storm must not fill the edge's disk.
MAX_SNAPSHOTS = 500


def snapshot_path(folder: Path, incident: IncidentEvent) -> Path:
    """Where the snapshot of ``incident`` goes (its incident id names it; one-off reports have none)."""
    name = incident.incident_id if incident.incident_id is not None else incident.id
    return folder / f"{name}.png"


class SnapshotTap:
    """Masks and writes the frame an incident opened on, once per incident."""

    def __init__(self, folder: Path, config: CameraConfig) -> None:
        self.folder = folder
        self.config = config
        self.written: list[Path] = []
        # Its own low-threshold detector, as the preview: masking must not depend on counting thresholds.
        self._masker = PreviewMasker.for_camera(config)

    def offer(self, image: Image, tracked: Detections, opened: Sequence[IncidentEvent]) -> None:
        """Write a masked snapshot of ``image`` for each incident in ``opened`` (usually none)."""
        if not opened or len(self.written) >= MAX_SNAPSHOTS:
            return
        masked = self._masker.mask(image, tracked.xyxy)
        for incident in opened:
            if len(self.written) >= MAX_SNAPSHOTS:
                log.warning("%d incident snapshots written in this run; no more", MAX_SNAPSHOTS)
                return
            path = snapshot_path(self.folder, incident)
            try:
                write_png(path, self.draw(masked, incident))
            except PrivacyError as exc:
                # The incident event itself still goes out; only its picture is missing.
                log.error("incident snapshot not written: %s", exc)
                continue
            self.written.append(path)

    def draw(self, masked: Image, incident: IncidentEvent) -> Image:
        """A copy of the already masked ``masked`` with the incident's zone or line and a caption on it."""
        zones = [
            ZoneOverlay(zone.name, zone.polygon, incident.incident)
            for zone in self.config.zones
            if zone.name == incident.zone
        ]
        lines = [
            LineOverlay(line.name, line.p1, line.p2, incident.incident)
            for line in self.config.lines
            if line.name == incident.line
        ]
        when = f"{incident.start:%Y-%m-%d %H:%M:%S}Z"
        title = f"{self.config.site}/{self.config.camera} {incident.severity} {when}"
        overlay = PreviewOverlay(lines, zones, title)
        # Already masked: no boxes to mask again, only the overlay to draw on a copy.
        return render_preview(masked, Detections.empty(), np.zeros((0, 4), np.float32), overlay)
