"""Query parameters the series endpoints share, as a :class:`~citytally.hub.queries.SeriesQuery`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated
from zoneinfo import ZoneInfo, available_timezones

from fastapi import Depends, HTTPException, Query
from pydantic import AwareDatetime

from citytally.events import SLUG_PATTERN, RoadUserClass
from citytally.hub.queries import Interval, QueryError, SeriesQuery

__all__ = ["SlugQuery", "ClassQuery", "series_query", "local_series_query", "time_zone", "DEFAULT_SPAN"]

#: When ``start`` is left out: this much before ``end``.
DEFAULT_SPAN: dict[str, timedelta] = {
    "15m": timedelta(days=1),
    "1h": timedelta(days=7),
    "1d": timedelta(days=31),
}

SlugQuery = Annotated[str | None, Query(pattern=SLUG_PATTERN, max_length=63)]
ClassQuery = Annotated[RoadUserClass | None, Query(alias="class", description="Road-user class.")]


def series_query(
    interval: Annotated[Interval, Query(description="Bucket width; picks the roll-up table.")] = "1h",
    start: Annotated[AwareDatetime | None, Query(description="Inclusive; default: end minus a span.")] = None,
    end: Annotated[AwareDatetime | None, Query(description="Exclusive; default: now.")] = None,
    site: SlugQuery = None,
    camera: SlugQuery = None,
    limit: Annotated[int, Query(ge=1, le=100_000, description="Most rows returned.")] = 10_000,
) -> SeriesQuery:
    """The time window and camera filter every series endpoint takes (422 on a bad combination)."""
    try:
        stop = end or datetime.now(UTC)
        begin = start or stop - DEFAULT_SPAN[interval]
        filters = {k: v for k, v in (("site", site), ("camera", camera)) if v is not None}
        return SeriesQuery(interval=interval, start=begin, end=stop, filters=filters, limit=limit)
    except (QueryError, OverflowError) as exc:
        raise HTTPException(422, str(exc)) from exc


def local_series_query(
    window: Annotated[SeriesQuery, Depends(series_query)],
    tz: Annotated[
        str,
        Query(
            description="IANA time zone (e.g. Europe/Paris) whose hours and days `1h` and `1d` buckets are, "
            "with the bucket starts given at its offset; default UTC, the roll-ups' own."
        ),
    ] = "UTC",
) -> SeriesQuery:
    """:func:`series_query` with buckets of a time zone's hours and days."""
    return replace(window, tz=time_zone(tz))


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    # "localtime" is no zone of the tz database: a system's link to its own /etc/localtime (Debian's
    # zoneinfo has it), which would answer in the hub machine's zone and tell it to anyone asking.
    return frozenset(available_timezones()) - {"localtime"}


def time_zone(name: str, parameter: str = "tz") -> ZoneInfo:
    """The IANA zone ``name`` (e.g. ``Europe/Amsterdam``), or 422 naming the parameter.

    Only names the tz database lists are looked up: ``ZoneInfo`` given a folder of it (``Europe``) raises
    ``IsADirectoryError``, and other files there (``zone.tab``) are not zones either.
    """
    if name not in _zone_names():
        example = "an IANA name such as Europe/Paris"
        raise HTTPException(422, f"{parameter}: unknown time zone {name[:64]!r} ({example})")
    return ZoneInfo(name)
