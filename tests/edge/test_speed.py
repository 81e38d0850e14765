"""Speed: a four-point ground calibration and per-track speeds within 2 % of the truth."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from citytally.edge.analytics.speed import GroundPlane, SpeedMeter
from citytally.edge.detections import Detections
from citytally.errors import ConfigError
from citytally.events import SpeedStats

CAR = 2
FPS = 10.0

# The camera, as a known homography from the ground (metres) to the image (pixels), with strong perspective.
GROUND_TO_IMAGE = np.array([[40.0, -12.0, 300.0], [2.0, 16.0, 120.0], [0.001, 0.02, 1.0]])
GROUND_RECT = np.array([[0, 0], [8, 0], [8, 30], [0, 30]], np.float64)


def to_image(ground: npt.ArrayLike) -> npt.NDArray[np.float64]:
    pts = np.asarray(ground, dtype=np.float64).reshape(-1, 2)
    projected = np.hstack([pts, np.ones((len(pts), 1))]) @ GROUND_TO_IMAGE.T
    image: npt.NDArray[np.float64] = projected[:, :2] / projected[:, 2:3]
    return image


def plane() -> GroundPlane:
    return GroundPlane(to_image(GROUND_RECT).tolist(), GROUND_RECT.tolist())


def at_ground_point(
    track_id: int, ground_xy: tuple[float, float], noise: tuple[float, float] = (0, 0)
) -> Detections:
    """A box whose bottom centre is the image of a ground point (plus pixel noise)."""
    x, y = to_image([ground_xy])[0] + np.asarray(noise)
    xyxy = np.array([[x - 20, y - 30, x + 20, y]], np.float32)
    return Detections(xyxy, np.array([0.9], np.float32), np.array([CAR]), np.array([track_id]))


def test_calibration_points_map_exactly_and_match_opencv() -> None:
    ground_plane = plane()
    assert ground_plane.to_ground(to_image(GROUND_RECT)) == pytest.approx(GROUND_RECT, abs=1e-9)
    reference = cv2.getPerspectiveTransform(
        to_image(GROUND_RECT).astype(np.float32), GROUND_RECT.astype(np.float32)
    )
    assert ground_plane.matrix == pytest.approx(reference, rel=1e-4, abs=1e-7)
    inside = np.array([[3.0, 17.0], [7.5, 1.0]])
    assert ground_plane.to_ground(to_image(inside)) == pytest.approx(inside, abs=1e-9)


@pytest.mark.parametrize(
    ("kmh", "heading_deg", "noise_px"),
    [
        (50.0, 90.0, 0.0),
        (5.0, 45.0, 0.0),
        (50.0, 90.0, 0.5),
        (30.0, 0.0, 0.5),
        (5.0, 45.0, 0.2),
        (110.0, 80.0, 0.5),
    ],
)
def test_speed_within_two_percent(kmh: float, heading_deg: float, noise_px: float) -> None:
    """Exact without noise (perspective included); with sub-pixel box jitter, the 2 s fit stays within 2 %."""
    meter = SpeedMeter(plane(), window_s=2.0)
    rng = np.random.default_rng(7)
    speed_ms = kmh / 3.6
    direction = np.array([np.cos(np.radians(heading_deg)), np.sin(np.radians(heading_deg))])
    start = np.array([1.0, 1.0])
    estimates = []
    for i in range(30):
        t = i / FPS
        ground = start + direction * speed_ms * t
        noise = rng.normal(0, noise_px, 2)
        meter.update(at_ground_point(1, (float(ground[0]), float(ground[1])), (noise[0], noise[1])), t)
        if (estimate := meter.speed_kmh(1)) is not None:
            estimates.append(estimate)
    assert estimates, "a speed after a window of history"
    assert estimates[-1] == pytest.approx(kmh, rel=0.02)


def test_too_little_history_gives_no_speed() -> None:
    meter = SpeedMeter(plane(), window_s=1.0)
    meter.update(at_ground_point(1, (1.0, 1.0)), 0.0)
    meter.update(at_ground_point(1, (1.0, 2.0)), 0.1)
    assert meter.speed_kmh(1) is None
    assert meter.speed_kmh(99) is None


def test_implausible_speed_is_dropped() -> None:
    meter = SpeedMeter(plane(), window_s=0.4, max_kmh=200)
    for i in range(6):
        meter.update(at_ground_point(1, (1.0, 1.0 + 10.0 * i)), i / FPS)  # 100 m/s
    assert meter.speed_kmh(1) is None


def test_degenerate_calibration_refused() -> None:
    with pytest.raises(ConfigError, match="degenerate"):
        GroundPlane([[0, 0], [1, 1], [2, 2], [3, 3]], GROUND_RECT.tolist())


def test_summary_percentile_and_histogram() -> None:
    speeds = [float(v) for v in range(1, 101)]
    stats = SpeedStats.of(speeds)
    assert (stats.n, stats.mean_kmh) == (100, 50.5)
    assert stats.p85_kmh == pytest.approx(float(np.percentile(speeds, 85)))
    # 1–4 in [0, 5), then five a bin, and 100 alone in [100, 105).
    assert stats.histogram == [4] + [5] * 19 + [1]


def test_a_frames_ground_points_are_shared_by_planes_of_one_calibration_and_read_only() -> None:
    frame = at_ground_point(1, (4.0, 10.0)) + at_ground_point(2, (2.0, 25.0))
    first = plane().ground_points(frame)
    np.testing.assert_allclose(first, [[4.0, 10.0], [2.0, 25.0]], atol=1e-6)
    assert plane().ground_points(frame) is first  # another analyser's plane, the same calibration
    with pytest.raises(ValueError, match="read-only"):
        first[0, 0] = 0.0
    # Another calibration (the ground frame shifted by 5 m) projects the same boxes afresh.
    shifted = GroundPlane(to_image(GROUND_RECT).tolist(), (GROUND_RECT + (5.0, 0.0)).tolist())
    np.testing.assert_allclose(shifted.ground_points(frame), [[9.0, 10.0], [7.0, 25.0]], atol=1e-6)
    np.testing.assert_allclose(plane().ground_points(frame[np.array([1])]), first[1:], rtol=1e-12)
    assert plane().ground_points(Detections.empty()).shape == (0, 2)
