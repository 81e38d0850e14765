"""Edge status over MQTT: what an edge's outbox holds, so the hub's ``/metrics`` shows it per camera.

An outbox publishes, every few seconds while it is connected, one small message per camera it serves on
``<prefix>/<site>/<camera>/status`` (beside ``…/events``), at QoS 0 and retained, so a hub that starts
sees each camera's latest status at once::

    {"v": 1, "outbox_depth": 12, "oldest_pending_s": 3.5, "at": "2026-11-23T12:00:00Z", "held_in_memory": 0,
     "dropped": 0}

``outbox_depth`` is how many of the camera's events wait for the broker's acknowledgement and
``oldest_pending_s`` how long the oldest of them has waited (0 when none). ``held_in_memory``: how many of
them the outbox file refused (a full or failing disk) and the edge holds in memory, lost if it stops before
the file takes them; ``dropped``: how many of the camera's events the edge lost since it started (the hold
full, or stopped while holding them), its last status saying the last word. Both 0 if absent (edges before
them). A hub must know the field before its edges send it
(upgrade hubs first): a status with a field it does not know is ignored and counted. While the link is
down no status can arrive: ``at`` (exported as a timestamp) shows how old the last one is. It says nothing
about road users, only about the queue.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["OutboxStatus", "status_topic", "status_subscription", "camera_of_status_topic"]


class OutboxStatus(BaseModel):
    """One camera's outbox, as its edge reports it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = Field(default=1, description="Status message version.")
    outbox_depth: Annotated[int, Field(ge=0)] = Field(description="Events queued, not yet acknowledged.")
    oldest_pending_s: Annotated[float, Field(ge=0)] = Field(
        description="Seconds the oldest queued event has waited (0 when none)."
    )
    at: AwareDatetime = Field(description="When the edge measured this.")
    held_in_memory: Annotated[int, Field(ge=0)] = Field(
        default=0,
        description="Of those queued, events the outbox file refused (a full or failing disk), held in "
        "memory until it takes them: lost if the edge stops first.",
    )

    dropped: Annotated[int, Field(ge=0)] = Field(
        default=0,
        description="Events of this camera the edge dropped since it started: the outbox file refused them "
        "and the memory hold was full, or the edge stopped while holding them.",
    )

    @model_validator(mode="after")
    def _held_are_queued(self) -> OutboxStatus:
        if self.held_in_memory > self.outbox_depth:
            raise ValueError("more held in memory than queued")
        return self

    @field_validator("oldest_pending_s")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


def status_topic(events_topic: str) -> str:
    """The status topic of the camera whose events go to ``events_topic`` (``…/events`` → ``…/status``)."""
    base, _, last = events_topic.rpartition("/")
    if last != "events" or not base:
        raise ValueError(f"{events_topic!r} is not an events topic")
    return f"{base}/status"


def status_subscription(prefix: str) -> str:
    """The filter the hub subscribes with for every camera's status."""
    return f"{prefix}/+/+/status"


def camera_of_status_topic(topic: str, prefix: str) -> tuple[str, str] | None:
    """``(site, camera)`` of a ``<prefix>/<site>/<camera>/status`` topic, else None."""
    head, _, tail = topic.partition(prefix + "/")
    parts = tail.split("/")
    if head or len(parts) != 3 or parts[2] != "status":
        return None
    return parts[0], parts[1]
