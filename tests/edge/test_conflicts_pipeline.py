"""Conflict analysis in the real pipeline (decoder, NanoDet, tracker) on 20 s of vtest.avi: one anonymous
conflict event per interval, whose road users are the zone's own stays."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest

from citytally.edge.config import load_camera_config
from citytally.edge.pipeline import PipelineOptions, analyze_video
from citytally.events import ConflictEvent, ZoneOccupancyEvent, parse_event

REPO = Path(__file__).resolve().parents[2]
SECONDS = 20

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def clip(vtest_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 20 seconds of vtest.avi, re-encoded."""
    path = tmp_path_factory.mktemp("clip") / "vtest-20s.mp4"
    with av.open(str(vtest_path)) as source, av.open(str(path), "w") as sink:
        stream = sink.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 768, 576, "yuv420p"
        for index, frame in enumerate(source.decode(video=0)):
            if index == SECONDS * 10:
                break
            sink.mux(stream.encode(frame.reformat(format="yuv420p")))
        sink.mux(stream.encode(None))
    return path


def test_the_pipeline_emits_conflict_events_for_the_junction_zone(clip: Path, tmp_path: Path) -> None:
    text = (REPO / "examples" / "vtest.toml").read_text(encoding="utf-8")
    text = text.replace("interval_seconds = 60 ", "interval_seconds = 10 ")
    config_path = tmp_path / "vtest-conflicts.toml"
    # vtest has only pedestrians: count their pairs too (they are ignored by default).
    conflict = '\n[[conflicts]]\nzone = "plaza"\npet_s = 3.0\nignore_pairs = []\n'
    config_path.write_text(text + conflict, encoding="utf-8")
    config = load_camera_config(config_path)
    assert config.interval_seconds == 10

    result = analyze_video(clip, config, tmp_path / "out", PipelineOptions(progress=False))

    assert result.error is None and result.frames == SECONDS * 10
    raw = (tmp_path / "out" / "events.jsonl").read_text(encoding="utf-8").splitlines()
    events = [parse_event(line) for line in raw]
    conflicts = [e for e in events if isinstance(e, ConflictEvent)]
    occupancy = [e for e in events if isinstance(e, ZoneOccupancyEvent) and e.zone == "plaza"]
    assert len(conflicts) == len(occupancy) == 2  # one per interval: 08:00:00-10, 08:00:10-20
    assert [(e.start, e.end) for e in conflicts] == [(e.start, e.end) for e in occupancy]
    # Every road user counted into the zone left it again (by the end of the stream at the latest): the
    # entries the conflict analysis counts are the stays the zone monitor measured.
    entered = sum(n for e in conflicts for n in e.road_users.values())
    stays = sum(d.n for e in occupancy for d in e.dwell.values())
    assert entered == stays > 0
    assert sum(e.total for e in conflicts) > 0  # people cross each other's paths on the plaza
    for event, line in zip(events, raw, strict=True):
        if isinstance(event, ConflictEvent):
            assert sum(c.count for c in event.cells) == event.total
            assert not {"track", "track_id", "pair", "time_s"} & set(json.loads(line))
