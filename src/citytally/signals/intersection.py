"""One signalised intersection that owns its TraCI calls and enforces the safety rules.

Controllers only *request* a green phase. The :class:`Intersection` decides when the switch happens:
a green is held for at least ``min_green_s``; every link going from green (``G``/``g``) to red is shown
amber (``y``) for ``yellow_s``; a link turning green that *conflicts* with a link whose green just ended
waits a further all-red clearance of ``all_red_s`` after that amber; and no link with a halted vehicle on
its incoming lane, and no crossing with a person waiting at its kerb, stays red for more than ``max_red_s``
(the starvation bound), whatever the controller asks. A crossing whose green ends keeps every conflicting
stream red until a person who stepped onto it at the last moment of its green has walked across at
``WALKING_SPEED_MPS`` (its clearance time, the "flashing don't walk"; the amber counts towards it). The
green phases and the lanes they serve are read from the network's own programme, so nothing here is
specific to a scenario.

Why all-red only on conflicting transitions. The all-red interval exists so that a vehicle that entered on
the last moment of amber has left the conflict area before a crossing or merging stream starts. A link
whose path shares no conflict area with any link that just ended (a left-turn arrow added to a through
green that keeps running, a phase that only *drops* movements, a right turn that only merges with a stream
still green) has nothing to be kept apart from, so its green may start right after the amber. Conflicts are
read from the simulated junction itself: two links conflict when SUMO lists one of the internal lanes one of
them drives through as a foe of one the other drives through (its junction foe matrix, crossing and
merging), or when they lead into the same outgoing lane. A link the network gives no internal lane to
(a network built without internal links) is taken to conflict with every other link, so an unknown
geometry always gets the all-red.

The all-red is also held, for at most ``max_box_clearance_s``, while a vehicle stands inside the junction on
a path that conflicts with a link about to turn green (a box detector, as a camera over the junction
gives): starting that green would lock the two streams against each other. With nothing allowed to enter
against it, the stuck vehicle leaves. The starvation bound counts this extension in every forced service,
so ``max_red_s`` still holds.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from citytally.errors import SignalError
from citytally.signals.sensors import LaneReadings

__all__ = [
    "PATH_CLEARANCE_M",
    "WALKING_SPEED_MPS",
    "GreenPhase",
    "Intersection",
    "SignalTiming",
    "all_red_state",
    "green_phase_states",
    "is_green",
    "link_conflicts",
    "needs_all_red",
    "needs_clearance",
    "starts_green",
    "yellow_state",
]

_GREEN = frozenset("Gg")
_UNSIGNALLED = frozenset("oO")
_HELD = frozenset("ryu")

WALKING_SPEED_MPS = 1.2
"""Walking speed a crossing's clearance time is reckoned at (the usual design value, e.g. Germany's RiLSA;
slower walkers are the reason it is not higher)."""


def is_green(signal: str) -> bool:
    """Whether one link's signal character lets traffic go (``G`` priority green, ``g`` permissive)."""
    return signal in _GREEN


def green_phase_states(programme_states: Sequence[str]) -> list[str]:
    """The programme's green phases: states with a ``G``/``g`` and no amber, duplicates dropped, in order."""
    greens: list[str] = []
    for state in programme_states:
        if any(is_green(c) for c in state) and "y" not in state.lower() and state not in greens:
            greens.append(state)
    return greens


def needs_clearance(src: str, dst: str) -> bool:
    """Whether going from ``src`` to ``dst`` stops a link that is green or amber (so amber first)."""
    return any((is_green(a) or a == "y") and not is_green(b) for a, b in zip(src, dst, strict=True))


def starts_green(src: str, dst: str) -> bool:
    """Whether going from ``src`` to ``dst`` turns some link green that was not green before."""
    return any(is_green(b) and not is_green(a) for a, b in zip(src, dst, strict=True))


def needs_all_red(src: str, dst: str, conflicts: Sequence[frozenset[int]]) -> bool:
    """Whether a link turning green in ``dst`` conflicts with a link whose green (or amber) ends.

    ``conflicts[i]`` holds the links that conflict with link ``i`` (see :func:`link_conflicts`).
    """
    ending = [i for i, (a, b) in enumerate(zip(src, dst, strict=True)) if (is_green(a) or a == "y")
              and not is_green(b)]  # fmt: skip
    if not ending:
        return False
    starting = [i for i, (a, b) in enumerate(zip(src, dst, strict=True)) if is_green(b) and not is_green(a)]
    return any(not conflicts[s].isdisjoint(ending) for s in starting)


def _clearing_state(src: str, dst: str, ending: str) -> str:
    out = []
    for a, b in zip(src, dst, strict=True):
        if is_green(a):
            out.append(a if is_green(b) else ending)
        elif a in _UNSIGNALLED or (a == "y" and ending == "y") or (a == "s" and b == "s"):
            out.append(a)  # off, an amber already running, or a stop-then-go link that stays so
        else:
            out.append("r")
    return "".join(out)


def yellow_state(src: str, dst: str) -> str:
    """Amber: links ending their green show ``y``; links green in both keep going; the rest stay red."""
    return _clearing_state(src, dst, "y")


def all_red_state(src: str, dst: str) -> str:
    """All-red clearance: links that just ended are red and no newly green link has started yet."""
    return _clearing_state(src, dst, "r")


class SignalTiming(BaseModel):
    """Safety timings every intersection enforces, whatever the controller requests."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_green_s: float = Field(
        default=5.0, ge=1.0, le=120.0, description="Shortest time a green phase is held."
    )
    yellow_s: float = Field(
        default=3.0, ge=1.0, le=10.0, description="Amber on every link that ends its green."
    )
    all_red_s: float = Field(
        default=1.0,
        ge=0.0,
        le=10.0,
        description="All-red clearance after amber, before a conflicting green starts.",
    )
    max_box_clearance_s: float = Field(
        default=2.0,
        ge=0.0,
        le=30.0,
        description=(
            "Longest the all-red is extended while a vehicle stands inside the junction on a path that "
            "conflicts with a link about to turn green (0: never extended)."
        ),
    )
    max_red_s: float = Field(
        default=120.0,
        ge=10.0,
        le=900.0,
        description="Longest a link with a halted vehicle waits at red (starvation bound).",
    )

    @property
    def service_s(self) -> float:
        """Longest time one forced service takes: amber, all-red (extended at most), a minimum green."""
        return self.yellow_s + self.all_red_s + self.max_box_clearance_s + self.min_green_s


@dataclass(frozen=True, slots=True)
class GreenPhase:
    """One green phase of an intersection's programme and what it serves."""

    index: int
    state: str
    in_lanes: tuple[str, ...]
    """Incoming lanes with at least one green link in this phase."""
    movements: tuple[tuple[str, str], ...]
    """(incoming lane, outgoing lane) pairs with a green link in this phase."""

    def serves(self, link: int) -> bool:
        """Whether link number ``link`` is green in this phase."""
        return is_green(self.state[link])


class _Mode(Enum):
    GREEN = "green"
    YELLOW = "yellow"
    ALL_RED = "all_red"


class Intersection:
    """A traffic light in SUMO that only switches safely. Call :meth:`update` once before every step."""

    def __init__(self, api: Any, tls_id: str, timing: SignalTiming, *, step_length: float = 1.0) -> None:
        self.id = tls_id
        self.timing = timing
        self._api = api
        self._dt = step_length
        self._links = _controlled_links(api, tls_id)
        self.conflicts = link_conflicts(api, tls_id)
        self.link_paths = tuple(
            _internal_path(api, e[0][2] if e and len(e[0]) > 2 else "")
            for e in api.trafficlight.getControlledLinks(tls_id)
        )
        self.box_lanes = tuple(dict.fromkeys(lane for path in self.link_paths for lane in path))
        """Internal lanes of the junction (the box a stopped vehicle must not be caught in)."""
        self.phases = _build_phases(tls_id, _programme_states(api, tls_id), self._links)
        self.in_lanes = tuple(dict.fromkeys(lane for lane, _ in self._links if lane))
        self.out_lanes = tuple(dict.fromkeys(lane for _, lane in self._links if lane))
        self._watched = [i for i, (lane, _) in enumerate(self._links) if lane and self._ever_green(i)]
        self.crossings = _crossings(api, self._links)
        """Link index → length in metres of each signalled pedestrian crossing."""
        # a forced service may wait out a long crossing's clearance rather than the all-red alone
        walks = [length / WALKING_SPEED_MPS - timing.yellow_s for length in self.crossings.values()]
        walk = max(walks, default=0.0)
        service = timing.service_s + max(0.0, walk - timing.all_red_s)
        self._force_after = timing.max_red_s - len(self.phases) * service - 2 * step_length
        if self._force_after <= 0:
            needed = len(self.phases) * service + 2 * step_length
            raise SignalError(
                f"traffic light {tls_id}: max_red_s={timing.max_red_s:g} is too short for "
                f"{len(self.phases)} green phases; it must exceed {needed:g} s"
            )
        self._red_wait = [0.0] * len(self._links)
        self._requested: int | None = None
        self._started = False
        shown = str(api.trafficlight.getRedYellowGreenState(tls_id))
        self._shown = shown
        self._phase = self._closest_phase(shown)
        self._mode = _Mode.GREEN
        self._elapsed = 0.0
        self._clearing_from = shown
        self._all_red_s = 0.0
        if shown != self.phases[self._phase].state:
            self._start_switch(self._phase, src=shown)
        # Setting a state takes the light off its programme: from here on only this object switches it.
        api.trafficlight.setRedYellowGreenState(tls_id, self._shown)

    # ---- what controllers read -------------------------------------------------------------------------
    @property
    def current_phase(self) -> int:
        """The green phase shown, or the one a running amber/all-red transition leads to."""
        return self._phase

    @property
    def in_transition(self) -> bool:
        """Whether amber or all-red is shown now."""
        return self._mode is not _Mode.GREEN

    @property
    def green_elapsed_s(self) -> float:
        """How long the current green has been shown (0 during a transition)."""
        return self._elapsed if self._mode is _Mode.GREEN else 0.0

    @property
    def requested_phase(self) -> int | None:
        """The controller's latest request, if any."""
        return self._requested

    @property
    def shown_state(self) -> str:
        """The signal state string this object last set."""
        return self._shown

    def can_switch(self) -> bool:
        """Whether a request for another phase would start its transition at the next update."""
        return self._mode is _Mode.GREEN and self._elapsed >= self.timing.min_green_s

    def phases_serving(self, in_lane: str) -> tuple[int, ...]:
        """Green phases in which ``in_lane`` has at least one green link."""
        return tuple(p.index for p in self.phases if in_lane in p.in_lanes)

    @property
    def links(self) -> tuple[tuple[str, str], ...]:
        """(incoming lane, outgoing lane) of each controlled link, by link index ("" where unused)."""
        return tuple(self._links)

    def lane_shares(self, phase: int) -> dict[str, float]:
        """Share of each incoming lane's links that are green in ``phase`` (1.0: the lane is fully served).

        A lane feeding several movements is only partly served when some of them stay red: its head
        vehicle may be waiting for one of those, so the lane's queue is not the phase's to clear.
        """
        state = self.phases[phase].state
        totals: dict[str, int] = {}
        greens: dict[str, int] = {}
        for i, (lane, _) in enumerate(self._links):
            if lane:
                totals[lane] = totals.get(lane, 0) + 1
                greens[lane] = greens.get(lane, 0) + is_green(state[i])
        return {lane: greens[lane] / totals[lane] for lane in totals if greens[lane]}

    def transition_s(self, phase: int) -> float:
        """Amber plus any all-red that going from the green shown now to ``phase`` takes (0 if none)."""
        src, dst = self.phases[self._phase].state, self.phases[phase].state
        if phase == self._phase or not needs_clearance(src, dst):
            return 0.0
        return self.timing.yellow_s + self._all_red_for(src, dst)

    def longest_red_wait_s(self, phase: int) -> float:
        """Longest time a halted vehicle (or a person at a crossing) this phase serves has waited at red."""
        served = [self._red_wait[i] for i in self._watched if self.phases[phase].serves(i)]
        return max(served, default=0.0)

    # ---- what controllers do ---------------------------------------------------------------------------
    def request(self, phase: int) -> None:
        """Ask for green phase ``phase``; it is shown as soon as the safety rules allow."""
        if not 0 <= phase < len(self.phases):
            raise SignalError(f"traffic light {self.id}: no green phase {phase} (it has {len(self.phases)})")
        self._requested = phase

    def update(self, readings: LaneReadings) -> None:
        """Account for the step just simulated and set the state SUMO shows during the next one."""
        if self._started:
            self._elapsed += self._dt
            self._count_red_waits(readings)
        self._started = True
        if self._mode is _Mode.YELLOW and self._elapsed >= self.timing.yellow_s - 1e-9:
            dst = self.phases[self._phase].state
            # All-red keeps a newly green link from starting while a conflicting link's amber traffic
            # still clears (or a person still walks a crossing); a link whose path crosses or merges
            # with none of the ending ones may go.
            self._all_red_s = self._all_red_for(self._clearing_from, dst)
            if self._all_red_s > 0 or self._box_blocked(readings, dst):
                self._enter(_Mode.ALL_RED, all_red_state(self._clearing_from, dst))
            else:
                self._enter(_Mode.GREEN, dst)
        elif self._mode is _Mode.ALL_RED and self._all_red_done(readings):
            self._enter(_Mode.GREEN, self.phases[self._phase].state)
        elif self._mode is _Mode.GREEN and self._elapsed >= self.timing.min_green_s - 1e-9:
            target = self._starving_phase()
            if target is None:
                target = self._requested if self._requested is not None else self._phase
            if target != self._phase:
                self._start_switch(target, src=self._shown)

    # ---- internals -------------------------------------------------------------------------------------
    def _all_red_done(self, readings: LaneReadings) -> bool:
        """Whether the all-red has run its time and the junction box is clear (or waited long enough)."""
        needed = self._all_red_s
        if self._elapsed < needed - 1e-9:
            return False
        dst = self.phases[self._phase].state
        waited = self._elapsed - needed
        return waited >= self.timing.max_box_clearance_s - 1e-9 or not self._box_blocked(readings, dst)

    def _box_blocked(self, readings: LaneReadings, dst: str) -> bool:
        """Whether a vehicle stands inside the junction on a path crossing a link about to turn green.

        A green that starts while such a vehicle is still in the box lets the two streams lock each other
        (neither can move, nor can anyone behind them), so the all-red waits for the box to clear, for at
        most ``max_box_clearance_s``; the vehicle can leave then, as nothing may enter against it.
        """
        if self.timing.max_box_clearance_s <= 0:
            return False
        starting = [
            i
            for i, (a, b) in enumerate(zip(self._shown, dst, strict=True))
            if is_green(b) and not is_green(a)
        ]
        stuck = {
            link
            for link, path in enumerate(self.link_paths)
            if not is_green(dst[link]) and any(readings[lane].halting for lane in path)
        }
        return any(not self.conflicts[s].isdisjoint(stuck) for s in starting)

    def _all_red_for(self, src: str, dst: str) -> float:
        """The all-red going from ``src`` to ``dst`` needs: ``all_red_s`` where a starting link conflicts
        with an ending one, and at least the rest of the clearance time of an ending crossing it conflicts
        with (its length at walking speed, less the amber already shown)."""
        if not needs_all_red(src, dst, self.conflicts):
            return 0.0
        needed = self.timing.all_red_s
        pairs = enumerate(zip(src, dst, strict=True))
        starting = [i for i, (a, b) in pairs if is_green(b) and not is_green(a)]
        for link, length in self.crossings.items():
            ending = (is_green(src[link]) or src[link] == "y") and not is_green(dst[link])
            if ending and any(link in self.conflicts[i] for i in starting):
                needed = max(needed, length / WALKING_SPEED_MPS - self.timing.yellow_s)
        return needed

    def _ever_green(self, link: int) -> bool:
        return any(p.serves(link) for p in self.phases)

    def _closest_phase(self, shown: str) -> int:
        def overlap(phase: GreenPhase) -> int:
            return sum(is_green(a) and is_green(b) for a, b in zip(shown, phase.state, strict=True))

        return max(self.phases, key=lambda p: (overlap(p), -p.index)).index

    def _count_red_waits(self, readings: LaneReadings) -> None:
        for i in self._watched:
            lane, out = self._links[i]
            # A crossing's walking area carries no vehicles: its push-button says who waits.
            waiting = readings.waiting_to_cross(out) if i in self.crossings else readings[lane].halting
            # A stop-then-go link ("s") is not held at red: its vehicles may leave after stopping.
            if self._shown[i] in _HELD and waiting > 0:
                self._red_wait[i] += self._dt
            else:
                self._red_wait[i] = 0.0

    def _starving_phase(self) -> int | None:
        """The phase to force when some waiting link nears the red bound, else ``None``."""
        current = self.phases[self._phase]
        starving = [
            i for i in self._watched if self._red_wait[i] >= self._force_after and not current.serves(i)
        ]
        if not starving:
            return None
        worst = max(starving, key=lambda i: self._red_wait[i])
        candidates = [p for p in self.phases if p.serves(worst)]
        return max(candidates, key=lambda p: (sum(p.serves(i) for i in starving), -p.index)).index

    def _start_switch(self, target: int, *, src: str) -> None:
        dst = self.phases[target].state
        self._phase = target
        if needs_clearance(src, dst):
            self._clearing_from = src
            self._enter(_Mode.YELLOW, yellow_state(src, dst))
        else:
            self._enter(_Mode.GREEN, dst)

    def _enter(self, mode: _Mode, state: str) -> None:
        self._mode = mode
        self._elapsed = 0.0
        if state != self._shown:
            self._api.trafficlight.setRedYellowGreenState(self.id, state)
        self._shown = state


def link_conflicts(api: Any, tls_id: str) -> tuple[frozenset[int], ...]:
    """For each controlled link of ``tls_id``, the other links whose paths through the junction conflict.

    Two links conflict when SUMO lists an internal lane of one as a junction foe of an internal lane of the
    other (crossing and merging paths), either way round; when their paths, drawn as centre lines, come
    closer than :data:`PATH_CLEARANCE_M` anywhere (SUMO leaves some crossings of neighbouring lanes out of
    its foes); or when both lead into the same outgoing lane. A link without an internal lane conflicts
    with every other link: with no geometry to go by, it is kept apart from everything.
    """
    entries = [list(e) for e in api.trafficlight.getControlledLinks(tls_id)]
    paths = [_internal_path(api, e[0][2] if e and len(e[0]) > 2 else "") for e in entries]
    shapes = [[tuple(map(float, pt)) for lane in path for pt in api.lane.getShape(lane)] for path in paths]
    outs = [str(e[0][1]) if e else "" for e in entries]
    foes: list[set[str]] = []
    for path in paths:
        found: set[str] = set()
        for lane in path:
            found.update(str(f) for f in api.lane.getInternalFoes(lane))
        foes.append(found)
    n = len(entries)
    result: list[set[int]] = [set() for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if not entries[i] or not entries[j]:
                continue
            if (
                not paths[i]
                or not paths[j]
                or outs[i] == outs[j]
                or not foes[i].isdisjoint(paths[j])
                or not foes[j].isdisjoint(paths[i])
                or _closer_than(shapes[i], shapes[j], PATH_CLEARANCE_M)
            ):
                result[i].add(j)
                result[j].add(i)
    return tuple(frozenset(r) for r in result)


PATH_CLEARANCE_M = 2.0
"""Centre lines of two paths closer than this conflict: two cars (about 1.8 m wide) on them could touch."""

_Point = tuple[float, ...]


def _closer_than(a: Sequence[_Point], b: Sequence[_Point], distance: float) -> bool:
    """Whether polylines ``a`` and ``b`` come closer than ``distance`` (crossing counts as 0)."""
    return any(
        _segment_gap(p, q, r, s) < distance
        for p, q in itertools.pairwise(a)
        for r, s in itertools.pairwise(b)
    )


def _segment_gap(p: _Point, q: _Point, r: _Point, s: _Point) -> float:
    """Shortest distance between segments ``pq`` and ``rs`` in the plane."""

    def side(a: _Point, b: _Point, c: _Point) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    d1, d2, d3, d4 = side(r, s, p), side(r, s, q), side(p, q, r), side(p, q, s)
    if ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and 0.0 not in (d1, d2, d3, d4):
        return 0.0
    return min(_point_gap(p, r, s), _point_gap(q, r, s), _point_gap(r, p, q), _point_gap(s, p, q))


def _point_gap(a: _Point, b: _Point, c: _Point) -> float:
    """Distance from point ``a`` to segment ``bc``."""
    dx, dy = c[0] - b[0], c[1] - b[1]
    norm = dx * dx + dy * dy
    t = 0.0 if norm == 0 else max(0.0, min(1.0, ((a[0] - b[0]) * dx + (a[1] - b[1]) * dy) / norm))
    return math.hypot(a[0] - b[0] - t * dx, a[1] - b[1] - t * dy)


def _internal_path(api: Any, via: str) -> tuple[str, ...]:
    """The internal lanes a link drives through, from its first (``via``) to the outgoing lane."""
    path: list[str] = []
    lane = str(via)
    while lane.startswith(":") and lane not in path:
        path.append(lane)
        following = [str(link[0]) for link in api.lane.getLinks(lane)]
        lane = next((nxt for nxt in following if nxt.startswith(":")), "")
    return tuple(path)


def _crossings(api: Any, links: Sequence[tuple[str, str]]) -> dict[int, float]:
    """Link index → length of the crossing it leads onto, for each link onto a pedestrian crossing (an
    internal lane only pedestrians may use, entered from a walking area)."""
    found: dict[int, float] = {}
    for i, (src, dst) in enumerate(links):
        if src.startswith(":") and dst.startswith(":") and list(api.lane.getAllowed(dst)) == ["pedestrian"]:
            found[i] = float(api.lane.getLength(dst))
    return found


def _controlled_links(api: Any, tls_id: str) -> list[tuple[str, str]]:
    links: list[tuple[str, str]] = []
    for entries in api.trafficlight.getControlledLinks(tls_id):
        links.append((str(entries[0][0]), str(entries[0][1])) if entries else ("", ""))
    return links


def _programme_states(api: Any, tls_id: str) -> list[str]:
    program_id = api.trafficlight.getProgram(tls_id)
    logics = api.trafficlight.getAllProgramLogics(tls_id)
    chosen = next((lg for lg in logics if lg.programID == program_id), logics[0] if logics else None)
    if chosen is None:
        raise SignalError(f"traffic light {tls_id} has no signal programme")
    return [str(phase.state) for phase in chosen.phases]


def _build_phases(
    tls_id: str, states: Sequence[str], links: Sequence[tuple[str, str]]
) -> tuple[GreenPhase, ...]:
    greens = green_phase_states(states)
    if not greens:
        raise SignalError(f"traffic light {tls_id}: its programme has no green phase ({list(states)})")
    phases = []
    for index, state in enumerate(greens):
        if len(state) != len(links):
            raise SignalError(f"traffic light {tls_id}: phase {state!r} does not cover {len(links)} links")
        green_links = [links[i] for i, c in enumerate(state) if is_green(c) and links[i][0]]
        phases.append(
            GreenPhase(
                index=index,
                state=state,
                in_lanes=tuple(dict.fromkeys(lane for lane, _ in green_links)),
                movements=tuple(dict.fromkeys(green_links)),
            )
        )
    return tuple(phases)
