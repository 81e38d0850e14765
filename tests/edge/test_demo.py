"""The demo's wiring: a real clip through the edge pipeline into the embedded hub's store."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest
import sqlalchemy as sa

from citytally.demo import HUB_DATABASE, run_demo


@pytest.fixture(scope="module")
def clip(vtest_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 15 seconds of vtest.avi, re-encoded (a short real clip keeps the test quick)."""
    path = tmp_path_factory.mktemp("clip") / "vtest-15s.mp4"
    with av.open(str(vtest_path)) as source, av.open(str(path), "w") as sink:
        stream = sink.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 768, 576, "yuv420p"
        for index, frame in enumerate(source.decode(video=0)):
            if index == 150:
                break
            sink.mux(stream.encode(frame.reformat(format="yuv420p")))
        sink.mux(stream.encode(None))
    return path


@pytest.mark.integration
def test_demo_stores_every_event_in_the_hub(clip: Path, tmp_path: Path) -> None:
    result = run_demo(out=tmp_path, video=clip, progress=False, serve=False)

    assert result.error is None and result.frames == 150
    lines = (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines, "the clip produced no events"
    ids = {json.loads(line)["id"] for line in lines}
    engine = sa.create_engine(f"sqlite:///{tmp_path / HUB_DATABASE}")
    try:
        with engine.connect() as conn:
            stored = {str(row[0]).replace("-", "") for row in conn.execute(sa.text("SELECT id FROM events"))}
    finally:
        engine.dispose()
    assert stored == {i.replace("-", "") for i in ids}
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert set(summary["lines"]) == {"path-west", "path-east"}
