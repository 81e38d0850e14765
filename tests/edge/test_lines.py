"""Count lines: one count per real crossing, by direction and class, within the segment only."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citytally.edge.analytics.lines import LineCounter
from citytally.edge.config import LineConfig
from citytally.edge.detections import Detections
from citytally.edge.geometry import signed_distance

PERSON, CAR, BUS = 0, 2, 4

# A horizontal line drawn left to right at y = 300: "down" (directions[0]) is left→right of p1→p2,
# which on the displayed image is moving down (y growing).
LINE = LineConfig(
    name="main",
    p1=(100, 300),
    p2=(500, 300),
    directions=("down", "up"),
    margin_px=4,
    margin_ratio=0,
    min_frames=2,
)


def tracked(*objects: tuple[int, float, float, int]) -> Detections:
    """One frame: (track id, ground x, ground y, class) → boxes whose bottom centre is that point."""
    if not objects:
        return Detections.empty()
    arr = np.array(objects, dtype=np.float64)
    x, y = arr[:, 1], arr[:, 2]
    xyxy = np.stack([x - 15, y - 60, x + 15, y], axis=1).astype(np.float32)
    return Detections(
        xyxy, np.full(len(arr), 0.9, np.float32), arr[:, 3].astype(np.int64), arr[:, 0].astype(np.int64)
    )


def count(path: Sequence[tuple[float, float]], line: LineConfig = LINE, cls: int = CAR) -> Counter[str]:
    """Run one track along a path of ground points; return crossings by direction."""
    counter = LineCounter(line)
    found: Counter[str] = Counter()
    for i, (x, y) in enumerate(path):
        for crossing in counter.update(tracked((7, x, y, cls)), i / 10):
            found[crossing.direction] += 1
    return found


def straight(x0: float, y0: float, x1: float, y1: float, steps: int = 20) -> list[tuple[float, float]]:
    return [(x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps) for k in range(steps + 1)]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param(straight(300, 200, 300, 400), {"down": 1}, id="down"),
        pytest.param(straight(300, 400, 300, 200), {"up": 1}, id="up"),
        pytest.param(straight(150, 200, 450, 400), {"down": 1}, id="diagonal"),
        pytest.param(straight(300, 200, 300, 280), {}, id="approach-only"),
        pytest.param(straight(300, 200, 300, 298) + straight(300, 298, 300, 200), {}, id="touch-turn-back"),
        pytest.param(
            straight(300, 200, 300, 303) + straight(300, 303, 300, 200), {}, id="reach-into-band-back"
        ),
        pytest.param(
            straight(300, 250, 300, 290, 4) + [(300, 310)] + straight(300, 290, 300, 200, 9),
            {},
            id="one-frame-beyond-then-back",
        ),
        pytest.param(
            straight(300, 200, 300, 400) + straight(300, 400, 300, 200), {"down": 1, "up": 1}, id="back"
        ),
        pytest.param(straight(600, 200, 600, 400), {}, id="beyond-p2"),
        pytest.param(straight(50, 400, 50, 200), {}, id="before-p1"),
        pytest.param(straight(50, 200, 50, 400) + straight(50, 400, 300, 400), {}, id="around-the-end"),
        pytest.param(
            straight(50, 200, 50, 400) + straight(50, 400, 300, 400) + straight(300, 400, 300, 200),
            {"up": 1},
            id="around-then-through",
        ),
        pytest.param(straight(300, 500, 300, 500), {}, id="standing-still"),
    ],
)
def test_crossings(path: list[tuple[float, float]], expected: dict[str, int]) -> None:
    assert dict(count(path)) == expected


def test_jitter_on_the_line_counts_once() -> None:
    rng = np.random.default_rng(1)
    hover = [(300 + rng.normal(0, 2), 300 + rng.uniform(-3.9, 3.9)) for _ in range(60)]
    # Spikes beyond the margin, one frame at a time, do not make extra crossings either.
    for k in range(0, 60, 7):
        hover[k] = (hover[k][0], 300 + (6 if k % 2 else -6))
    path = straight(300, 200, 300, 296) + hover + straight(300, 304, 300, 400)
    assert dict(count(path)) == {"down": 1}


def test_margin_scales_with_box_height() -> None:
    """A bus 200 px tall stopped on the line, its box bottom swinging ±12 px: beyond a 4 px margin, within
    15 % of its height. It is counted once, when it really drives on; a fixed 4 px margin would not do."""
    swing = [300 + 12 * (-1) ** (k // 3) for k in range(60)]
    path = [*range(200, 288, 4), *swing, *range(300, 400, 4)]

    def crossings(margin_ratio: float) -> list[str]:
        counter = LineCounter(LINE.model_copy(update={"margin_px": 4, "margin_ratio": margin_ratio}))
        found: list[str] = []
        for i, y in enumerate(path):
            box = np.array([[280, y - 200, 320, y]], np.float32)
            frame = Detections(box, np.array([0.9], np.float32), np.array([BUS]), np.array([3]))
            found += [c.direction for c in counter.update(frame, i / 10)]
        return found

    assert crossings(0.15) == ["down"]
    assert len(crossings(0.0)) > 1


def test_by_class_and_direction() -> None:
    counter = LineCounter(LINE)
    found: Counter[tuple[str, int]] = Counter()
    for i in range(21):
        frame = tracked(
            (1, 200, 200 + 10 * i, CAR),
            (2, 250, 400 - 10 * i, CAR),
            (3, 300, 200 + 10 * i, BUS),
            (4, 350, 200 + 10 * i, PERSON),
            (5, 400, 400 - 10 * i, PERSON),
        )
        for crossing in counter.update(frame, i / 10):
            found[(crossing.direction, crossing.class_id)] += 1
    assert found == {
        ("down", CAR): 1,
        ("up", CAR): 1,
        ("down", BUS): 1,
        ("down", PERSON): 1,
        ("up", PERSON): 1,
    }


def test_directions_follow_the_drawing_direction() -> None:
    """The same motion is directions[0] for p1→p2 and directions[1] when the line is drawn the other way."""
    reversed_line = LINE.model_copy(update={"p1": LINE.p2, "p2": LINE.p1})
    assert dict(count(straight(300, 200, 300, 400), reversed_line)) == {"up": 1}
    vertical = LineConfig(name="v", p1=(300, 100), p2=(300, 500), directions=("westbound", "eastbound"))
    assert dict(count(straight(400, 300, 200, 300), vertical)) == {"westbound": 1}


def test_signed_distance_left_is_negative_as_displayed() -> None:
    # Walking p1 (100, 300) → p2 (500, 300), rightwards on screen: the left hand points up (smaller y).
    assert signed_distance((100, 300), (500, 300), [(300, 250), (300, 350)]).tolist() == [-50, 50]


def test_a_track_lost_for_long_is_forgotten() -> None:
    counter = LineCounter(LINE, forget_after_s=1.0)
    counter.update(tracked((1, 300, 200, CAR)), 0.0)
    # Back 5 s later on the other side: that is not evidence of a crossing, the state was dropped.
    assert counter.update(tracked((1, 300, 400, CAR)), 5.0) == []
    assert counter.update(tracked((1, 300, 400, CAR)), 5.1) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-40, 40), min_size=2, max_size=60), st.integers(1, 4))
def test_counts_never_exceed_real_sign_changes(offsets: list[float], min_frames: int) -> None:
    """Whatever the path: crossings alternate in direction, there are no more of them than sign changes of
    the distance to the line, and a track that settles back on its starting side has as many of each."""
    line = LINE.model_copy(update={"min_frames": min_frames})
    counter = LineCounter(line)
    directions: list[str] = []
    for i, dy in enumerate(offsets):
        directions += [c.direction for c in counter.update(tracked((9, 300, 300 + dy, CAR)), i / 10)]
    assert all(a != b for a, b in zip(directions, directions[1:], strict=False))
    signs = [np.sign(d) for d in offsets if d != 0]
    changes = sum(1 for a, b in zip(signs, signs[1:], strict=False) if a != b)
    assert len(directions) <= changes
    sure = [np.sign(d) for d in offsets if abs(d) >= line.margin_px]
    settled = len(sure) >= min_frames and len(set(sure[-min_frames:])) == 1
    if settled and sure[0] == sure[-1]:
        assert directions.count("down") == directions.count("up")


def test_crossing_while_occluded_is_counted_when_the_track_reappears() -> None:
    """The tracker keeps the id through a short occlusion; the crossing happened unseen and still counts."""
    counter = LineCounter(LINE, forget_after_s=2.0)
    seen = [(0.0, 200.0), (0.1, 220.0), (0.2, 240.0), (1.0, 400.0), (1.1, 420.0), (1.2, 440.0)]
    found = [c.direction for t, y in seen for c in counter.update(tracked((4, 300, y, CAR)), t)]
    assert found == ["down"]


def count_to_the_end(path: Sequence[tuple[float, float]], min_frames: int = 3) -> tuple[list[str], list[str]]:
    """Run one track along ``path`` and end the stream: (crossings while running, crossings at the end)."""
    counter = LineCounter(LINE.model_copy(update={"min_frames": min_frames}))
    running = [
        c.direction for i, (x, y) in enumerate(path) for c in counter.update(tracked((7, x, y, CAR)), i / 10)
    ]
    return running, [c.direction for c in counter.finish()]


@pytest.mark.parametrize(
    ("path", "running", "at_end"),
    [
        # Beyond the band for 1 or 2 of the 3 frames a crossing needs when the stream ends: counted at the end
        pytest.param(straight(300, 250, 300, 290, 4) + [(300, 320)], [], ["down"], id="one-frame-beyond"),
        pytest.param(straight(300, 350, 300, 310, 4) + [(300, 290), (300, 270)], [], ["up"], id="two-up"),
        # Counted already while running: nothing more at the end (no double count).
        pytest.param(straight(300, 250, 300, 350, 10), ["down"], [], id="done-before-the-end"),
        # A crossing, then back over the line for one frame at the end: the second one counts too.
        pytest.param(straight(300, 250, 300, 350, 10) + [(300, 280)], ["down"], ["up"], id="back-at-the-end"),
        # Turned back before the end: the last frame is on the old side again.
        pytest.param(straight(300, 250, 300, 290, 4) + [(300, 320), (300, 280)], [], [], id="turn-back"),
        # Last seen in the band: undecided, not counted.
        pytest.param(straight(300, 250, 300, 290, 4) + [(300, 320), (300, 301)], [], [], id="ends-in-band"),
        # Never established a side before the end, or never left it.
        pytest.param([(300, 320)], [], [], id="first-seen-beyond"),
        pytest.param(straight(300, 200, 300, 280, 4), [], [], id="approach-only"),
        # Beyond the far end of the segment: a side change, not a crossing.
        pytest.param(straight(600, 250, 600, 290, 4) + [(600, 320)], [], [], id="beyond-p2"),
    ],
)
def test_crossings_in_progress_close_at_the_end_of_the_stream(
    path: list[tuple[float, float]], running: list[str], at_end: list[str]
) -> None:
    assert count_to_the_end(path) == (running, at_end)


def test_end_of_stream_crossing_keeps_class_and_track_time() -> None:
    counter = LineCounter(LINE.model_copy(update={"min_frames": 3}))
    for i, y in enumerate([250, 270, 290, 320]):
        counter.update(tracked((5, 300, y, BUS)), i / 10)
    counter.update(Detections.empty(), 0.5)
    (crossing,) = counter.finish()
    assert (crossing.class_id, crossing.track_id, crossing.timestamp) == (BUS, 5, pytest.approx(0.3))
    assert counter.finish() == []  # the state is gone: a second end counts nothing
