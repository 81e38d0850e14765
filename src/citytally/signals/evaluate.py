"""Run a controller on a SUMO scenario for RESCO-style episodes and measure its average delay."""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from citytally.errors import SignalError
from citytally.signals.controllers import make_controller
from citytally.signals.intersection import SignalTiming
from citytally.signals.metric import episode_delay, route_files_of
from citytally.signals.network import Controller, SignalNetwork
from citytally.signals.sim import SumoConnection

__all__ = [
    "EpisodeResult",
    "EvalConfig",
    "EvalSummary",
    "GridlockWatch",
    "episode_sumo_args",
    "evaluate",
    "run_episode",
    "simulate",
]

log = logging.getLogger(__name__)

_JAM_SAMPLE_S = 30  # how often the share of standing vehicles is sampled (a network-wide count)


class EvalConfig(BaseModel):
    """One evaluation: a scenario, an episode window, a controller and how many seeded episodes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scenario: Path = Field(description="The scenario's .sumocfg file.")
    begin: float = Field(ge=0.0, description="Episode start (simulation seconds).")
    end: float = Field(gt=0.0, description="Episode end (simulation seconds).")
    controller: str = Field(default="citytally", min_length=1, description="Controller name.")
    seeds: int = Field(default=1, ge=1, le=1000, description="Episodes, with SUMO seeds 0..seeds-1.")
    first_seed: int = Field(default=0, ge=0, le=1_000_000, description="Seed of the first episode.")
    sumo_binary: Path | None = Field(
        default=None, description="SUMO binary to run over TCP (default: libsumo)."
    )
    gridlock_s: float = Field(
        default=300.0,
        ge=30.0,
        le=3600.0,
        description="No arrival for this long with vehicles on the road is gridlock.",
    )


@dataclass
class GridlockWatch:
    """Flags gridlock: for ``window_s``, no arrival at all, or at least ``halted_share`` of the vehicles on
    the road standing still, while at least ``min_vehicles`` are on it."""

    window_s: float
    min_vehicles: int = 10
    halted_share: float = 0.8
    since: float | None = None
    jam_since: float | None = None
    detected_at: float | None = None
    vehicles_at_detection: int = 0

    def observe(self, now: float, arrived: int, vehicles: int) -> None:
        """Account for one step: vehicles that arrived during it and vehicles now on the road."""
        if arrived > 0 or vehicles < self.min_vehicles:
            self.since = None
            return
        if self.since is None:
            self.since = now
        if now - self.since >= self.window_s:
            self._detect(now, vehicles)

    def observe_halted(self, now: float, halted: int, vehicles: int) -> None:
        """Account for a sample of how many of the vehicles on the road are standing still."""
        if vehicles < self.min_vehicles or halted < self.halted_share * vehicles:
            self.jam_since = None
            return
        if self.jam_since is None:
            self.jam_since = now
        if now - self.jam_since >= self.window_s:
            self._detect(now, vehicles)

    def _detect(self, now: float, vehicles: int) -> None:
        if self.detected_at is None:
            self.detected_at = now
            self.vehicles_at_detection = vehicles


@dataclass
class EpisodeResult:
    """One episode's delay and health."""

    seed: int
    delay_s: float
    vehicles: int
    never_departed: int
    sumo_version: str
    wall_s: float
    decision_s: list[float] = field(default_factory=list)
    gridlock_at: float | None = None

    @property
    def mean_decision_ms(self) -> float:
        return 1000.0 * statistics.fmean(self.decision_s) if self.decision_s else 0.0


@dataclass
class EvalSummary:
    """Several seeded episodes of one controller on one scenario."""

    config: EvalConfig
    episodes: list[EpisodeResult]

    @property
    def mean_s(self) -> float:
        return statistics.fmean(e.delay_s for e in self.episodes)

    @property
    def sd_s(self) -> float:
        return statistics.stdev(e.delay_s for e in self.episodes) if len(self.episodes) > 1 else 0.0

    @property
    def gridlocked(self) -> list[EpisodeResult]:
        return [e for e in self.episodes if e.gridlock_at is not None]

    def last_line(self) -> str:
        """The line ``citytally signals eval`` ends with."""
        return f"delay: {self.mean_s:.2f} ± {self.sd_s:.2f} s/veh over {len(self.episodes)} seeds"


def episode_sumo_args(cfg: EvalConfig, seed: int, tripinfo: Path) -> list[str]:
    """SUMO's command line for one seeded episode of ``cfg`` with RESCO's metric outputs."""
    # RESCO passes --random (a clock seed); an explicit --seed per episode gives the same spread, repeatably.
    return [
        "-c", str(cfg.scenario),
        "--begin", f"{cfg.begin:g}", "--end", f"{cfg.end:g}",
        "--seed", str(seed),
        "--tripinfo-output", str(tripinfo), "--tripinfo-output.write-unfinished",
        "--time-to-teleport", "-1",
        "--no-step-log", "--no-warnings", "--duration-log.disable",
    ]  # fmt: skip


def run_episode(
    cfg: EvalConfig, seed: int, controller: Controller | None, timing: SignalTiming | None = None
) -> EpisodeResult:
    """One seeded episode of ``controller`` (``None``: the network's own programme) on ``cfg.scenario``."""
    if not cfg.scenario.is_file():
        raise SignalError(f"{cfg.scenario}: no such SUMO configuration")
    if cfg.end <= cfg.begin:
        raise SignalError(f"episode end {cfg.end:g} must be after its begin {cfg.begin:g}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="citytally-eval-") as tmp:
        tripinfo = Path(tmp) / "tripinfo.xml"
        conn = SumoConnection.start(episode_sumo_args(cfg, seed, tripinfo), binary=cfg.sumo_binary)
        try:
            version = conn.version()
            watch, decisions = simulate(conn, cfg, controller, timing)
        finally:
            conn.close()
        delay = episode_delay(tripinfo, route_files_of(cfg.scenario), cfg.begin, cfg.end)
    if watch.detected_at is not None:
        log.warning(
            "gridlock on %s (seed %d) at t=%.0f s: no arrival for %.0f s with %d vehicles on the road",
            cfg.scenario.name, seed, watch.detected_at, watch.window_s, watch.vehicles_at_detection,
        )  # fmt: skip
    return EpisodeResult(
        seed=seed,
        delay_s=delay.mean_s,
        vehicles=delay.vehicles,
        never_departed=delay.never_departed,
        sumo_version=version,
        wall_s=time.perf_counter() - started,
        decision_s=decisions,
        gridlock_at=watch.detected_at,
    )


def simulate(
    conn: SumoConnection, cfg: EvalConfig, controller: Controller | None, timing: SignalTiming | None = None
) -> tuple[GridlockWatch, list[float]]:
    """Step ``conn`` to the episode end under ``controller`` (``None``: the signals are left alone), watching
    for gridlock; returns the watch and the wall time of every decision step."""
    api = conn.api
    timing = timing or getattr(controller, "timing", None) or SignalTiming()
    network = SignalNetwork(api, timing, tls_ids=None if controller is not None else [])
    if controller is not None and not len(network):
        controlled = len(api.trafficlight.getIDList())
        log.warning(
            "%s: %s controls no traffic light (%s): its delay is the network's own, as with 'fixed'",
            cfg.scenario.name, controller.name,
            "the network has none" if not controlled else f"none of its {controlled} could be run safely",
        )  # fmt: skip
    watch = GridlockWatch(window_s=cfg.gridlock_s)
    edges = [str(e) for e in api.edge.getIDList() if not str(e).startswith(":")]
    decisions: list[float] = []
    while conn.time < cfg.end - 1e-6:
        if controller is not None:
            tick = time.perf_counter()
            network.control_step(controller)
            decisions.append(time.perf_counter() - tick)
        conn.step()
        on_road = int(api.vehicle.getIDCount())
        watch.observe(conn.time, int(api.simulation.getArrivedNumber()), on_road)
        if int(conn.time) % _JAM_SAMPLE_S == 0 and on_road >= watch.min_vehicles:
            halted = sum(int(api.edge.getLastStepHaltingNumber(edge)) for edge in edges)
            watch.observe_halted(conn.time, halted, on_road)
    return watch, decisions


def evaluate(cfg: EvalConfig, progress: Callable[[EpisodeResult], None] | None = None) -> EvalSummary:
    """``cfg.seeds`` seeded episodes of the configured controller."""
    episodes = []
    for seed in range(cfg.first_seed, cfg.first_seed + cfg.seeds):
        result = run_episode(cfg, seed, make_controller(cfg.controller))
        episodes.append(result)
        if progress is not None:
            progress(result)
    return EvalSummary(config=cfg, episodes=episodes)
