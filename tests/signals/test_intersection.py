"""Transitions derived from phase strings, and the green phases read from a programme (no SUMO needed)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from citytally.signals.intersection import (
    SignalTiming,
    all_red_state,
    green_phase_states,
    needs_all_red,
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
        ("yrGr", "rrGG", "yrGr", "rrGr", True),  # an amber already shown ends like a green
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
        assert SignalTiming(**fields).service_s == pytest.approx(11.0)  # type: ignore[arg-type]
    else:
        with pytest.raises(ValidationError, match=error):
            SignalTiming(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("src", "dst", "expected"),
    [("GGrr", "rrGG", True), ("rrrrrGGGgg", "rrrrrrrrGG", False), ("Grr", "GGr", True), ("sG", "sr", False)],
)
def test_all_red_only_guards_links_that_start_green(src: str, dst: str, expected: bool) -> None:
    assert starts_green(src, dst) is expected


# Links 0 and 2 cross, 1 and 3 merge; 0 and 1 (and 2 and 3) neither cross nor merge.
_CONFLICTS = (frozenset({2}), frozenset({3}), frozenset({0}), frozenset({1}))


@pytest.mark.parametrize(
    ("src", "dst", "expected", "why"),
    [
        ("Grrr", "rrGr", True, "link 2 starts while link 0, which it crosses, ends"),
        ("rGrr", "rrrG", True, "link 3 starts while link 1, which it merges with, ends"),
        ("Grrr", "rGrr", False, "link 1 starts while only link 0 ends: they do not conflict"),
        ("GGrr", "rGrG", False, "link 3 starts; of the ending links (0) none conflicts with it"),
        ("GGrr", "rrGr", True, "links 0 and 1 end, link 2 crosses link 0"),
        ("GrGr", "rrGr", False, "nothing starts: a phase that only drops movements needs no all-red"),
        ("rrrr", "GrGr", False, "nothing ends"),
        ("yrrr", "rrGr", True, "an amber still shown on link 0 ends too"),
    ],
)
def test_all_red_only_where_a_starting_link_conflicts_with_an_ending_one(
    src: str, dst: str, expected: bool, why: str
) -> None:
    assert needs_all_red(src, dst, _CONFLICTS) is expected, why
