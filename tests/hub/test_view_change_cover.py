"""Whether a bucket overlaps a camera's view changes, read off their merged runs by a binary search: the
same answer as testing every incident, on random spans and buckets (overlapping, touching, nested, empty)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from citytally.hub.queries import Covered, ViewChangeSpan

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def span(start_min: int, length_min: int) -> ViewChangeSpan:
    start = T0 + timedelta(minutes=start_min)
    return ViewChangeSpan(start, start + timedelta(minutes=length_min), False, False, start, None)


def test_the_merged_runs_answer_as_every_span_does() -> None:
    rng = random.Random(7)
    for _ in range(300):
        spans = [
            span(rng.randrange(0, 600), rng.choice([0, 1, 5, 15, 60, 240]))
            for _ in range(rng.randrange(0, 30))
        ]
        covered = Covered(spans)
        for _ in range(50):
            lo = T0 + timedelta(minutes=rng.randrange(-30, 900))
            hi = lo + timedelta(minutes=rng.choice([1, 15, 60, 1440]))
            every = any(s.start < hi and s.end > lo for s in spans)  # each span on its own
            assert covered.overlaps(lo, hi) == every, (spans, lo, hi)


def test_touching_and_nested_spans() -> None:
    covered = Covered([span(0, 15), span(15, 15), span(5, 2), span(60, 0)])
    quarter = timedelta(minutes=15)
    assert covered.overlaps(T0, T0 + quarter) and covered.overlaps(T0 + quarter, T0 + 2 * quarter)
    assert not covered.overlaps(T0 + 2 * quarter, T0 + 4 * quarter)  # 30-60 min: the empty span is at 60
    assert not covered.overlaps(
        T0 + 4 * quarter, T0 + 5 * quarter
    )  # an empty span overlaps nothing at its start
    assert not Covered([]).overlaps(T0, T0 + quarter)
