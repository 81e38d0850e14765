"""Where the SUMO traffic simulator is installed: its binary and its SUMO_HOME.

A leaf used by whatever runs SUMO: the signals package (:mod:`citytally.signals.sim`,
:mod:`citytally.signals.generate`) and the edge's incident scenarios (:mod:`citytally.edge.incidents.replay`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from citytally.errors import SignalError

__all__ = ["find_sumo_binary", "sumo_home_for"]


def find_sumo_binary() -> Path:
    """The ``sumo`` binary of the installed ``eclipse-sumo`` package, else the one on ``PATH``."""
    try:
        import sumo  # the eclipse-sumo wheel ships the binaries inside this package

        candidate = Path(sumo.__file__).parent / "bin" / "sumo"
        if candidate.is_file():
            return candidate
    except ImportError:
        pass
    found = shutil.which("sumo")
    if found is None:
        raise SignalError("no SUMO binary: install eclipse-sumo or put `sumo` on PATH")
    return Path(found)


def sumo_home_for(binary: Path) -> Path:
    """SUMO_HOME of a binary laid out as ``<home>/bin/sumo`` (what its data files and tools need)."""
    return binary.resolve().parent.parent
