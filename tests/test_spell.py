"""A failure that repeats is said when it begins, once a minute while it lasts, and when it ends."""

from __future__ import annotations

import logging

import pytest

from citytally.errors import Spell, Throttle


def test_a_spell_is_said_at_its_start_once_a_minute_and_at_its_end(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    spell = Spell(logging.getLogger("citytally.test.spell"), every_s=60.0, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="citytally.test.spell")
    for _ in range(150):  # 150 s of a failure tried every second
        spell.failed("store %s: %s", "hub.sqlite3", "database or disk is full")
        now[0] += 1.0
    assert spell.active
    spell.ended("store %s works again", "hub.sqlite3")
    spell.ended("store %s works again", "hub.sqlite3")  # nothing more to say
    spell.failed("store %s: %s", "hub.sqlite3", "disk I/O error")  # a new spell
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", "store hub.sqlite3: database or disk is full"),
        ("ERROR", "store hub.sqlite3: database or disk is full (for 60 s, 61 times)"),
        ("ERROR", "store hub.sqlite3: database or disk is full (for 120 s, 121 times)"),
        ("WARNING", "store hub.sqlite3 works again (it lasted 150 s)"),
        ("ERROR", "store hub.sqlite3: disk I/O error"),
    ]


def test_a_throttle_says_a_failure_once_a_minute_at_most(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    throttle = Throttle(every_s=60.0, clock=lambda: now[0])
    logger = logging.getLogger("citytally.test.throttle")
    caplog.set_level(logging.INFO, logger="citytally.test.throttle")
    for k in range(150):  # a request a second for 150 s, each failing
        throttle.log(logger, "request %d failed", k)
        now[0] += 1.0
    said = [r.getMessage() for r in caplog.records]
    assert said == ["request 0 failed", "request 60 failed", "request 120 failed"]
