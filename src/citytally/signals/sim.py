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
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from sumolib.miscutils import getFreeSocketPort

from citytally.errors import SignalError
from citytally.sumo import sumo_home_for

__all__ = ["SumoConnection"]

Backend = Literal["libsumo", "traci"]
_labels = itertools.count()


def _check_is_sumo(binary: Path) -> None:
    """:class:`SignalError` unless ``binary --version`` says it is SUMO (not another of its tools, not
    another program)."""
    try:
        said = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=60, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SignalError(f"SUMO binary {binary} does not run: {exc}") from None
    first = said.strip().splitlines()[0] if said.strip() else ""
    if not re.match(
        r"(Eclipse )?SUMO (sumo|GUI)\b", first
    ):  # "Eclipse SUMO sumo Version 1.9.1", "... 1.28.0"
        raise SignalError(f"{binary} is not SUMO: its --version says {first[:100] or 'nothing'!r}")


class SumoConnection:
    """A started simulation; ``api`` is the libsumo module or a TraCI connection with the same domains."""

    def __init__(self, api: Any, backend: Backend, binary: Path | None, errors: Path | None = None) -> None:
        self.api = api
        self.backend = backend
        self.binary = binary
        self._open = True
        self._errors = errors
        module: Any = api if backend == "libsumo" else __import__("traci")
        self._failures: tuple[type[BaseException], ...] = (module.TraCIException, module.FatalTraCIError)

    @classmethod
    def start(cls, args: Sequence[str], *, binary: Path | None = None) -> SumoConnection:
        """Start SUMO with command-line ``args``; libsumo unless ``binary`` names a SUMO to run over TCP.

        SUMO's own error messages also go to a file (``--error-log``), so that a failure, at the start or
        while it runs, is one line saying what SUMO said, not the command line or a traceback.
        """
        handle, name = tempfile.mkstemp(prefix="citytally-sumo-", suffix=".log")
        os.close(handle)
        errors = Path(name)
        logged = [*args, "--error-log", str(errors)]
        try:
            if binary is None:
                return cls._start_libsumo(logged, errors)
            return cls._start_tcp(logged, binary, errors)
        except BaseException:
            errors.unlink(missing_ok=True)
            raise

    @classmethod
    def _start_libsumo(cls, args: Sequence[str], errors: Path) -> SumoConnection:
        import libsumo

        # SUMO checks its options before it opens its error log: what it says about a missing or broken
        # network then goes only to the process's stderr, which is taken here (and passed on after).
        with _stderr_to(errors.with_suffix(".err")) as said:
            try:
                libsumo.start(["sumo", *args])
            except (libsumo.TraCIException, libsumo.FatalTraCIError) as exc:
                why = _said(errors, exc, fallback=said())
                raise SignalError(f"SUMO could not start the simulation: {why}") from None
        return cls(libsumo, "libsumo", None, errors)

    @classmethod
    def _start_tcp(cls, args: Sequence[str], binary: Path, errors: Path) -> SumoConnection:
        import traci

        if not binary.is_file():
            raise SignalError(f"SUMO binary {binary} does not exist")
        _check_is_sumo(binary)
        label = f"citytally-{os.getpid()}-{next(_labels)}"
        # An old binary must find its own data files (vehicle classes, emission tables), not ours.
        previous = os.environ.get("SUMO_HOME")
        os.environ["SUMO_HOME"] = str(sumo_home_for(binary))
        try:
            # traci prints its connection retries on stdout, which is the CLI's result channel. A port of
            # our choosing: without one, traci starts SUMO again on another port each time it exits before
            # it accepts the connection (60 times, a minute for a SUMO that cannot run at all).
            with contextlib.redirect_stdout(io.StringIO()):
                traci.start(
                    [str(binary), *args], port=getFreeSocketPort(), label=label, stdout=subprocess.DEVNULL
                )
        except (traci.TraCIException, traci.FatalTraCIError, OSError) as exc:
            raise SignalError(f"SUMO {binary} could not start the simulation: {_said(errors, exc)}") from None
        finally:
            if previous is None:
                os.environ.pop("SUMO_HOME", None)
            else:
                os.environ["SUMO_HOME"] = previous
        return cls(traci.getConnection(label), "traci", binary, errors)

    @property
    def time(self) -> float:
        """Current simulation time in seconds."""
        return float(self.api.simulation.getTime())

    @property
    def step_length(self) -> float:
        """Seconds advanced by one :meth:`step`."""
        return float(self.api.simulation.getDeltaT())

    def step(self) -> None:
        """Advance the simulation by one step (a :class:`SignalError` saying why where SUMO cannot)."""
        try:
            self.api.simulationStep()
        except self._failures as exc:
            # Demand is read as the simulation goes: a broken route file further on fails here.
            at = f"{self._time_or_none():g} s" if self._time_or_none() is not None else "its last step"
            raise SignalError(f"SUMO stopped at {at}: {_said(self._errors, exc)}") from None

    def _time_or_none(self) -> float | None:
        try:
            return self.time
        except self._failures:
            return None

    def version(self) -> str:
        """The simulator's own version string, e.g. ``SUMO 1.9.1``."""
        return str(self.api.getVersion()[1])

    def close(self) -> None:
        """End the simulation; SUMO writes its outputs (tripinfo) now. Safe to call twice."""
        if self._open:
            self._open = False
            try:
                with contextlib.suppress(*self._failures):  # a simulation that failed is closed already
                    self.api.close()
            finally:
                if self._errors is not None:
                    self._errors.unlink(missing_ok=True)

    def __enter__(self) -> SumoConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _said(errors: Path | None, exc: BaseException, fallback: Sequence[str] = ()) -> str:
    """SUMO's last error message (from its error log, else from ``fallback`` lines of its stderr), else the
    exception's, on one line."""
    lines: list[str] = []
    if errors is not None:
        with contextlib.suppress(OSError):
            lines = errors.read_text(errors="replace").splitlines()
    found = [m.removeprefix("Error: ") for m in _messages([*lines, *fallback]) if m.startswith("Error:")]
    text = found[-1] if found else (str(exc).strip() or type(exc).__name__)
    return " ".join(text.split())


def _messages(lines: Sequence[str]) -> list[str]:
    """SUMO's messages, each with its indented continuation lines ("In file ...", "At line ...")."""
    messages: list[str] = []
    for line in lines:
        if line[:1].isspace() and messages:
            messages[-1] += " " + line.strip()
        elif line.strip():
            messages.append(line.strip())
    return messages


@contextlib.contextmanager
def _stderr_to(path: Path) -> Iterator[Callable[[], list[str]]]:
    """Send file descriptor 2 (where in-process SUMO writes) to ``path`` while the block runs; yields a
    function giving the lines written so far. Afterwards every line but SUMO's errors (which the caller
    says itself) is written to the real stderr, so its warnings are still seen."""
    saved = os.dup(2)
    with path.open("w+b") as sink:

        def lines() -> list[str]:
            sink.flush()
            return path.read_text(errors="replace").splitlines()

        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            kept = [m for m in _messages(lines()) if not m.startswith("Error:")]
            path.unlink(missing_ok=True)
            if kept:
                os.write(2, ("\n".join(kept) + "\n").encode(errors="replace"))
