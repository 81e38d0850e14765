"""Record a benchmark's figures with where, when and on what code they were measured.

A bench script builds its rows and hands them to :func:`record`, which writes ``bench/results/<name>.json``:

    {"name", "title", "command", "started_utc", "finished_utc", "commit", "dirty",
     "machine": {"cpu_model", "cores", "flags", "python", "platform", "load_average"},
     "columns": [[key, header] or [key, header, format spec], ...], "rows": [{key: value, ...}, ...],
     "notes": [...]}

``bench/render.py`` turns each result into a table inside the marked block of ``docs/benchmarks.md``, so the
figures on the page are the recorded ones. Use it from a bench script in ``bench/``::

    from harness import Run

    run = Run("edge_fps", "Edge pipeline frames per second on vtest", columns=[("variant", "variant"), ...])
    run.add(variant="fp32", fps=27.4)          # one row; keys must be column keys
    run.save()                                 # bench/results/edge_fps.json (--results-dir to change)

The machine fingerprint is what makes a figure comparable: the CPU model, the visible cores, the vector
extensions that decide the detector's speed (AVX2, AVX-512, VNNI), the Python version and the load average
when the run started.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["FLAGS_OF_INTEREST", "RESULTS_DIR", "Run", "git_commit", "machine_fingerprint", "record", "load"]

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
#: CPU flags that change how fast the detector and the simulator run; the fingerprint lists those present.
FLAGS_OF_INTEREST = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8")


def _cpuinfo_fields(cpuinfo: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    return fields


def machine_fingerprint(cpuinfo: str | None = None) -> dict[str, Any]:
    """CPU model, visible cores, relevant CPU flags, Python, platform and load average, as a dict.

    ``cpuinfo`` is the text of ``/proc/cpuinfo`` (read when not given; empty on systems without it).
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    fields = _cpuinfo_fields(cpuinfo)
    flags = set(fields.get("flags", "").split())
    return {
        "cpu_model": fields.get("model name") or platform.processor() or "unknown",
        "cpu_family_model": f"{fields.get('cpu family', '?')}/{fields.get('model', '?')}",
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "flags": [f for f in FLAGS_OF_INTEREST if f in flags],
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def git_commit(repo: Path = REPO) -> tuple[str, bool]:
    """The checked-out commit (short) and whether tracked files differ from it; ``("unknown", False)``
    outside a git checkout."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short=7", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False
    return commit, bool(status.strip())


def _command(argv: Sequence[str]) -> str:
    """The command line as someone would type it from the repository root (no machine paths)."""
    script = Path(argv[0]).resolve() if argv else Path("?")
    try:
        shown = str(script.relative_to(REPO))
    except ValueError:
        shown = script.name
    return " ".join([".venv/bin/python", shown, *(shlex.quote(a) for a in argv[1:])])


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Run:
    """One benchmark run: its rows, and where, when and on what code it ran (taken when it is created).

    Run it on a commit that is on ``main`` (``land.sh`` rebases branches, which changes their commits)."""

    name: str
    title: str
    #: (key, header) or (key, header, format spec such as ".3f" for numbers in that column).
    columns: Sequence[tuple[str, str] | tuple[str, str, str]]
    notes: list[str] = field(default_factory=list)
    argv: Sequence[str] = field(default_factory=lambda: list(sys.argv))
    rows: list[dict[str, Any]] = field(default_factory=list)
    started_utc: str = field(default_factory=_utc_now)
    machine: dict[str, Any] = field(default_factory=machine_fingerprint)
    #: The commit measured and whether tracked files differed from it, taken when the run starts.
    code: tuple[str, bool] = field(default_factory=git_commit)

    def __post_init__(self) -> None:
        if not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"benchmark name {self.name!r}: use letters, digits, - and _ only")
        keys = [c[0] for c in self.columns]
        if len(set(keys)) != len(keys) or not keys:
            raise ValueError(f"benchmark {self.name}: column keys must be unique and not empty, got {keys}")

    def add(self, **row: Any) -> None:
        """Add one row; every key must be a column key (a missing one renders as an empty cell)."""
        unknown = set(row) - {c[0] for c in self.columns}
        if unknown:
            raise ValueError(f"benchmark {self.name}: row has keys that are not columns: {sorted(unknown)}")
        self.rows.append(row)

    def to_json(self) -> dict[str, Any]:
        """The result as written to ``bench/results/<name>.json``."""
        commit, dirty = self.code
        return {
            "name": self.name,
            "title": self.title,
            "command": _command(self.argv),
            "started_utc": self.started_utc,
            "finished_utc": _utc_now(),
            "commit": commit,
            "dirty": dirty,
            "machine": self.machine,
            "columns": [list(c) for c in self.columns],
            "rows": self.rows,
            "notes": self.notes,
        }

    def save(self, results_dir: Path = RESULTS_DIR) -> Path:
        """Write the result as JSON and return its path."""
        return record(self.to_json(), results_dir)


def record(result: dict[str, Any], results_dir: Path = RESULTS_DIR) -> Path:
    """Write one result dict to ``<results_dir>/<name>.json`` (replacing an earlier run of that name)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{result['name']}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load(name: str, results_dir: Path = RESULTS_DIR) -> dict[str, Any]:
    """Read ``<results_dir>/<name>.json``; ``FileNotFoundError`` names the file when there is none."""
    path = results_dir / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no recorded result named {name!r} (run its bench script first)")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
