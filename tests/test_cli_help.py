"""``citytally --help`` as a user reads it: the installed command, in a terminal 80 columns wide."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CITYTALLY = Path(sys.executable).with_name("citytally")


def _help(*command: str) -> str:
    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}
    done = subprocess.run(
        [str(CITYTALLY), *command, "--help"], capture_output=True, text=True, env=env, timeout=120, check=True
    )
    return done.stdout


@pytest.mark.parametrize(
    ("command", "sentence"),
    [
        (("analyze",), "camera's consecutive recordings: timestamps and tracks continue from one file"),
        (("signals", "bench"), "Writes no documentation: bench/signals_resco.py sets the cells"),
    ],
)
def test_help_paragraphs_are_reflowed_to_the_terminal(command: tuple[str, ...], sentence: str) -> None:
    # The docstrings are wrapped at 110 columns; their line breaks are not the terminal's. A paragraph is
    # reflowed, so a line is not broken where the source was; a name quoted as code shows without quotes.
    text = _help(*command)
    assert sentence in text, text
