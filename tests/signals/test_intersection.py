"""Transitions derived from phase strings, and the green phases read from a programme (no SUMO needed)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from citytally.signals.intersection import (
    SignalTiming,
    all_red_state,
    green_phase_states,
    needs_clearance,
    starts_green,
    yellow_state,
)


@pytest.mark.parametrize(
    ("src", "dst", "yellow", "all_red", "clearance"),
    [
        ("GGgrrr", "rrrGGg", "yyyrrr", "rrrrrr", True),
        ("rrrrrGGGgg", "rrrrrrrrGG", "rrrrryyygg", "rrrrrrrrgg", True),  # permissive left goes on
        ("GgrrGG", "rrGGGr", "yyrrGy", "rrrrGr", True),
        ("rrGg", "rrGG", "rrGg", "rrGg", False),  # permissive to protected: no conflict ends
        ("GrO", "rGO", "yrO", "rrO", True),  # an unsignalled link stays off
        ("GsGs", "rsrG", "ysyr", "rsrr", True),  # stop-then-go stays so; one turning green waits
    ],
)
def test_transitions_from_phase_strings(
    src: str, dst: str, yellow: str, all_red: str, clearance: bool
) -> None:
    assert yellow_state(src, dst) == yellow
    assert all_red_state(src, dst) == all_red
    assert needs_clearance(src, dst) is clearance


def test_green_phases_come_from_the_programme() -> None:
    programme = ["GGrr", "yyrr", "rrGG", "rryy", "GGrr", "rrrr"]
    assert green_phase_states(programme) == ["GGrr", "rrGG"]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({}, None),
        ({"yellow_s": 0.5}, "yellow_s"),
        ({"min_green_s": 0}, "min_green_s"),
        ({"all_red_s": -1}, "all_red_s"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_timing_bounds(fields: dict[str, object], error: str | None) -> None:
    if error is None:
        assert SignalTiming(**fields).service_s == pytest.approx(9.0)  # type: ignore[arg-type]
    else:
        with pytest.raises(ValidationError, match=error):
            SignalTiming(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("src", "dst", "expected"),
    [("GGrr", "rrGG", True), ("rrrrrGGGgg", "rrrrrrrrGG", False), ("Grr", "GGr", True), ("sG", "sr", False)],
)
def test_all_red_only_guards_links_that_start_green(src: str, dst: str, expected: bool) -> None:
    assert starts_green(src, dst) is expected
