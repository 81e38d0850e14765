"""One connection to a running SUMO simulation: in-process libsumo or TraCI over TCP with a chosen binary.

Both expose the same TraCI domain objects (``trafficlight``, ``lane``, ``simulation`` ...), so everything
above this module is written once and runs against the current SUMO (libsumo, fast) and against an older
SUMO binary such as 1.9.1 (TCP only, because its libsumo is not packaged for this Python).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from citytally.errors import SignalError
from citytally.sumo import sumo_home_for

__all__ = ["SumoConnection"]

Backend = Literal["libsumo", "traci"]
_labels = itertools.count()


class SumoConnection:
    """A started simulation; ``api`` is the libsumo module or a TraCI connection with the same domains."""

    def __init__(self, api: Any, backend: Backend, binary: Path | None) -> None:
        self.api = api
        self.backend = backend
        self.binary = binary
        self._open = True

    @classmethod
    def start(cls, args: Sequence[str], *, binary: Path | None = None) -> SumoConnection:
        """Start SUMO with command-line ``args``; libsumo unless ``binary`` names a SUMO to run over TCP."""
        if binary is None:
            return cls._start_libsumo(args)
        return cls._start_tcp(args, binary)

    @classmethod
    def _start_libsumo(cls, args: Sequence[str]) -> SumoConnection:
        import libsumo

        try:
            libsumo.start(["sumo", *args])
        except libsumo.TraCIException as exc:
            raise SignalError(f"SUMO (libsumo) refused to start with {' '.join(args)}: {exc}") from exc
        return cls(libsumo, "libsumo", None)

    @classmethod
    def _start_tcp(cls, args: Sequence[str], binary: Path) -> SumoConnection:
        import traci

        if not binary.is_file():
            raise SignalError(f"SUMO binary {binary} does not exist")
        label = f"citytally-{os.getpid()}-{next(_labels)}"
        # An old binary must find its own data files (vehicle classes, emission tables), not ours.
        previous = os.environ.get("SUMO_HOME")
        os.environ["SUMO_HOME"] = str(sumo_home_for(binary))
        try:
            # traci prints its connection retries on stdout, which is the CLI's result channel.
            with contextlib.redirect_stdout(io.StringIO()):
                traci.start([str(binary), *args], label=label, stdout=subprocess.DEVNULL)
        except (traci.TraCIException, traci.FatalTraCIError, OSError) as exc:
            raise SignalError(f"SUMO {binary} refused to start with {' '.join(args)}: {exc}") from exc
        finally:
            if previous is None:
                os.environ.pop("SUMO_HOME", None)
            else:
                os.environ["SUMO_HOME"] = previous
        return cls(traci.getConnection(label), "traci", binary)

    @property
    def time(self) -> float:
        """Current simulation time in seconds."""
        return float(self.api.simulation.getTime())

    @property
    def step_length(self) -> float:
        """Seconds advanced by one :meth:`step`."""
        return float(self.api.simulation.getDeltaT())

    def step(self) -> None:
        """Advance the simulation by one step."""
        self.api.simulationStep()

    def version(self) -> str:
        """The simulator's own version string, e.g. ``SUMO 1.9.1``."""
        return str(self.api.getVersion()[1])

    def close(self) -> None:
        """End the simulation; SUMO writes its outputs (tripinfo) now. Safe to call twice."""
        if self._open:
            self._open = False
            self.api.close()

    def __enter__(self) -> SumoConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
