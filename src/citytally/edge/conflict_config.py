"""The ``[[conflicts]]`` tables of a camera config: traffic-conflict analysis in junction zones.

Each table names one zone (``zone = "<name>"`` from ``[[zones]]``) whose road users are paired and measured
(time to collision, post-encroachment time, conflict type; :mod:`citytally.edge.safety`), with the
thresholds below which a pair is a conflict. The analysis works in metres on the ground, so it needs the
camera's ``[speed]`` ground-plane calibration; :class:`~citytally.edge.config.CameraConfig` checks that,
the zone names and that no zone is named twice. Defaults are documented per field and in docs/incidents.md.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from citytally.edge.safety import Thresholds
from citytally.events import CLASS_PAIR_PATTERN, SLUG_PATTERN

__all__ = ["ConflictSettings"]

Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]
ClassPair = Annotated[str, Field(pattern=CLASS_PAIR_PATTERN)]


class ConflictSettings(BaseModel):
    """Conflict analysis in one junction zone: thresholds, location grid and how much path is kept."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zone: Slug = Field(description="The junction zone (from [[zones]]) whose road users are paired.")
    ttc_s: float = Field(
        default=3.0,
        gt=0,
        le=10,
        description="A pair whose least time to collision is below this (s) is a conflict (SSAM: 3 s).",
    )
    pet_s: float = Field(
        default=2.0,
        gt=0,
        le=10,
        description="... or whose post-encroachment time is below this (s; SUMO's SSM device: 2 s).",
    )
    cell_m: float = Field(
        default=5.0,
        ge=1,
        le=50,
        description="Side (m) of the square ground cells in which conflict locations are counted.",
    )
    window_s: float = Field(
        default=30.0,
        ge=5,
        le=300,
        description="Seconds of a road user's path in the zone kept for pairing (a longer stay keeps its "
        "last window_s).",
    )
    smooth_s: float = Field(
        default=1.0,
        ge=0,
        le=5,
        description="Each position and speed of a path from a straight line fitted over this many seconds "
        "around it (0: raw ground points); a detector's jitter would otherwise read as motion.",
    )
    comfortable_decel_ms2: float = Field(
        default=3.4,
        ge=0,
        le=10,
        description="A rear-end approach whose follower braked enough, never harder than this (m/s²), is "
        "controlled, not counted: a car drawing up behind a queue (0: count every one, as SSAM does).",
    )
    ignore_pairs: tuple[ClassPair, ...] = Field(
        default=("person-person",),
        max_length=21,
        description="Class pairs not counted as conflicts, alphabetical (e.g. bicycle-person); pedestrians "
        "passing each other are not traffic conflicts.",
    )

    def thresholds(self) -> Thresholds:
        """The measures' thresholds these settings give (range and tolerances at their defaults)."""
        return Thresholds(
            ttc_s=self.ttc_s, pet_s=self.pet_s, comfortable_decel_ms2=self.comfortable_decel_ms2
        )

    @field_validator("ignore_pairs")
    @classmethod
    def _alphabetical(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pair in value:
            first, second = pair.split("-")
            if first > second:
                raise ValueError(f"write {pair!r} alphabetically: {second}-{first}")
        return value
