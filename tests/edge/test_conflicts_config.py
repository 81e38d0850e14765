"""The ``[[conflicts]]`` tables of a camera config: defaults, and one located message per problem."""

from __future__ import annotations

import pytest

from citytally.edge.config import CameraConfigError, parse_camera_config

BASE = """\
site = "plaza"
camera = "cam-1"

[source]
uri = "video.mp4"

[[zones]]
name = "junction"
polygon = [[100, 100], [500, 100], [500, 400], [100, 400]]

[speed]
image_points = [[100, 100], [500, 100], [600, 400], [0, 400]]
ground_points_m = [[0, 0], [8, 0], [8, 20], [0, 20]]

[[conflicts]]
zone = "junction"
"""


def test_defaults() -> None:
    (settings,) = parse_camera_config(BASE).conflicts
    assert (settings.zone, settings.ttc_s, settings.pet_s, settings.cell_m, settings.window_s) == (
        "junction",
        3.0,
        2.0,
        5.0,
        30.0,
    )
    assert settings.ignore_pairs == ("person-person",)
    assert settings.smooth_s == 1.0
    assert settings.comfortable_decel_ms2 == 3.4
    assert settings.thresholds().comfortable_decel_ms2 == 3.4


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('zone = "junction"\n', 'zone = "plaza"\n', r"<cfg>:16: conflicts\[0\]\.zone: no zone named 'plaza'"),
        (
            'zone = "junction"\n',
            'zone = "junction"\nttc_s = 0\n',
            r"<cfg>:17: conflicts\[0\]\.ttc_s: .*greater",
        ),
        (
            'zone = "junction"\n',
            'zone = "junction"\npet_s = 11\n',
            r"<cfg>:17: conflicts\[0\]\.pet_s: .*less",
        ),
        ('zone = "junction"\n', 'zone = "junction"\ncell = 2\n', r"<cfg>:17: conflicts\[0\]\.cell: unknown"),
        (
            'zone = "junction"\n',
            'zone = "junction"\nsmooth_s = -1\n',
            r"<cfg>:17: conflicts\[0\]\.smooth_s: .*greater than or equal to 0",
        ),
        (
            'zone = "junction"\n',
            'zone = "junction"\ncomfortable_decel_ms2 = -1\n',
            r"<cfg>:17: conflicts\[0\]\.comfortable_decel_ms2: .*greater than or equal to 0",
        ),
        (
            'zone = "junction"\n',
            'zone = "junction"\n\n[[conflicts]]\nzone = "junction"\n',
            r"<cfg>:19: conflicts\[1\]\.zone: zone 'junction' already has conflict analysis",
        ),
        (
            'zone = "junction"\n',
            'zone = "junction"\nignore_pairs = ["person-car"]\n',
            r"<cfg>:17: conflicts\[0\]\.ignore_pairs: write 'person-car' alphabetically: car-person",
        ),
        (
            'zone = "junction"\n',
            'zone = "junction"\nignore_pairs = ["car-horse"]\n',
            r"<cfg>:17: conflicts\[0\]\.ignore_pairs\[0\]: ",
        ),
        (
            BASE[BASE.index("[speed]") : BASE.index("[[conflicts]]")],
            "",
            r"<cfg>:11: conflicts\[0\]: needs the \[speed\] ground-plane calibration",
        ),
    ],
)
def test_problems_are_located(old: str, new: str, expected: str) -> None:
    assert old in BASE
    text = BASE.replace(old, new, 1)
    with pytest.raises(CameraConfigError, match=expected) as info:
        parse_camera_config(text, source="<cfg>")
    assert len(info.value.problems) == 1, info.value.problems
