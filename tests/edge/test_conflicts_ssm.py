"""bench/conflicts_ssm.py on one-minute SUMO runs: citytally's conflicts against SUMO's SSM device."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration, pytest.mark.sumo]


@pytest.fixture()
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    return importlib.import_module("conflicts_ssm")


def test_conflicts_agree_with_ssm_on_a_priority_grid(bench: ModuleType) -> None:
    got = bench.measure("grid", seconds=60.0, period=1.2, seed=15)
    assert got.reference >= 10 and got.ours >= 10  # SUMO produced conflicts and we found some
    # Floors under today's figures on this run, not issue 15's aims (0.95): see docs/benchmarks.md for what
    # the remaining disagreement is.
    assert got.recall >= 0.85 and got.precision >= 0.8
    assert len(got.ttc_errors) >= 10 and float(np.median(got.ttc_errors)) <= 0.1


def test_pedestrians_conflict_with_cars_where_ssm_sees_only_vehicles(
    bench: ModuleType, tmp_path: Path
) -> None:
    sim = bench.simulate("pedestrians", tmp_path, 60.0, 1.2, 15)
    ids, tracks = bench.trajectories(sim.fcd, sim.sizes)
    walkers = {name for name, track in zip(ids, tracks, strict=True) if track.kind == "person"}
    refs = bench.references(sim.ssm, sim.collisions)
    assert walkers and refs
    # Written to 1e-6, not SUMO's default 0.01 (a TTC of 2.9996 s would read "3.00", outside the threshold).
    first = next(line for line in sim.fcd.read_text().splitlines() if "<vehicle " in line)
    assert len(first.split(' x="')[1].split('"')[0].split(".")[1]) == 6
    assert not any(ref.pair & walkers for ref in refs)  # SUMO 1.28's SSM device logs vehicles only
    ours = bench.find_conflicts(tracks, bench.THRESHOLDS, ignore_pairs=bench.IGNORE_PAIRS)
    got = bench.compare(ids, [t.kind for t in tracks], ours, refs)
    assert got.with_pedestrians > 0  # walkers on the crossings in front of turning cars
    assert got.recall >= 0.85


def _ssm_file(folder: Path, ttc_span: str, collided: tuple[str, str] | None) -> tuple[Path, Path]:
    """One SSM record of vehicles 'a' and 'b' (minTTC 0 at its third step) and SUMO's collision file."""
    ssm, collisions = folder / "ssm.xml", folder / "collisions.xml"
    ssm.write_text(
        '<SSMLog><conflict begin="1.00" end="1.50" ego="a" foe="b">'
        '<timeSpan values="1.00 1.10 1.20 1.30 1.40 1.50"/><typeSpan values="7 7 3 3 3 18"/>'
        f'<TTCSpan values="{ttc_span}"/>'
        '<minTTC time="1.20" position="0,0" type="111" value="0.00" speed="5.0"/>'
        '<PET time="NA" position="NA" type="NA" value="NA" speed="NA"/></conflict></SSMLog>'
    )
    crash = f'<collision time="1.20" collider="{collided[0]}" victim="{collided[1]}"/>' if collided else ""
    collisions.write_text(f"<collisions>{crash}</collisions>")
    return ssm, collisions


def test_ssm_collisions_that_sumo_did_not_have_are_no_measure(bench: ModuleType, tmp_path: Path) -> None:
    # SSM's TTC 0 ("collision already happened": a gap along its lanes of 0 or less) where SUMO's own
    # collision check found none: the record's lowest TTC is that of its other steps.
    ssm, collisions = _ssm_file(tmp_path, "2.60 2.40 0.00 0.00 NA NA", None)
    (ref,) = bench.references(ssm, collisions)
    assert ref.min_ttc_s == 2.4 and ref.pair == frozenset(("a", "b"))
    ssm, collisions = _ssm_file(tmp_path, "NA 3.40 0.00 0.00 NA NA", None)
    assert bench.references(ssm, collisions) == []  # no other step under 3 s: no conflict
    # Where SUMO reports the pair's collision, TTC 0 stands (as it does without SUMO's collision file).
    ssm, collisions = _ssm_file(tmp_path, "2.60 2.40 0.00 0.00 NA NA", ("b", "a"))
    assert bench.references(ssm, collisions)[0].min_ttc_s == 0.0
    assert bench.references(ssm)[0].min_ttc_s == 0.0


def test_camera_like_tracks_are_centre_points_with_jitter(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    camera = importlib.import_module("conflicts_camera")
    sim = bench.simulate("grid", tmp_path, 30.0, 1.2, 15)
    ids, exact = bench.trajectories(sim.fcd, sim.sizes)
    names, centred = camera.camera_tracks(sim.fcd, sim.sizes, 0.0, 1)
    assert names == ids and all(t.speed is None and t.anchor == "centre" for t in centred)
    # Half a car (SUMO's default 5 m) behind the front bumper, wherever the car heads.
    behind = [np.hypot(*(c.xy - e.xy).T) for c, e in zip(centred, exact, strict=True)]
    assert np.allclose(np.concatenate(behind), 2.5, atol=1e-3)
    _, jittered = camera.camera_tracks(sim.fcd, sim.sizes, 0.3, 1)
    spread = np.concatenate([j.xy - c.xy for j, c in zip(jittered, centred, strict=True)])
    assert 0.27 < float(np.std(spread)) < 0.33
    # One loss at a time: SUMO's speeds and sizes kept on the centre points.
    _, kept = camera.camera_tracks(sim.fcd, sim.sizes, 0.0, 1, ("speed", "size"))
    assert all(
        k.speed is not None and np.array_equal(k.speed, e.speed) for k, e in zip(kept, exact, strict=True)
    )
    assert all(
        k.size_m == e.size_m and np.array_equal(k.xy, c.xy)
        for k, e, c in zip(kept, exact, centred, strict=True)
    )
