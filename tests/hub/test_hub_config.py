"""Hub settings: TOML plus environment, secrets only from the environment, one located line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from citytally.errors import ConfigError
from citytally.hub.config import DATABASE_URL_ENV, load_hub_settings, parse_hub_settings
from citytally.hub.store import DEFAULT_DATABASE_URL
from citytally.transport.mqtt import MQTT_PASSWORD_ENV

CAMERA = """
site = "plaza"
camera = "{camera}"
[source]
uri = "rtsp://camera.invalid/x"
"""


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            "[database]\nurl = 'postgresql+psycopg://hub:hunter2@db/city'\n",
            "database.url: .*holds a password",
        ),
        ("[mqtt]\nport = 0\n", "mqtt.port: Input should be greater than or equal to 1"),
        ("[mqtt]\ntopic_prefix = 'a/+/b'\n", "mqtt.topic_prefix"),
        ("[mqtt]\npassword = 'x'\n", "mqtt.password: unknown field \\(check its spelling and section\\)"),
        ("[retention]\nraw_events_days = 0\n", "retention.raw_events_days"),
        ("[sites.Bad-Site]\nname = 'x'\n", "sites.Bad-Site"),
        ("[ingest\n", "not valid TOML"),
        ("base_dir = '/'\n", "base_dir: is set by the loader"),
        ("", None),
    ],
)
def test_settings_are_validated(text: str, error: str | None) -> None:
    if error is None:
        settings = parse_hub_settings(text, "hub.toml")
        assert (settings.mqtt.port, settings.retention.raw_events_days) == (1883, 90)
        return
    # each problem on the line that holds it, as a camera config's are (it was "hub.toml: mqtt.port: ...")
    pattern = f"^hub.toml:\\d+: {error}" if "TOML" not in error else error
    with pytest.raises(ConfigError, match=pattern) as caught:
        parse_hub_settings(text, "hub.toml")
    assert "hunter2" not in str(caught.value)


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = parse_hub_settings(
        "[database]\nurl = 'postgresql+psycopg://hub@db/city'\n[mqtt]\nusername = 'hub'\n"
    )
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    monkeypatch.delenv(MQTT_PASSWORD_ENV, raising=False)
    assert settings.database.resolved_url() == "postgresql+psycopg://hub@db/city"
    assert settings.mqtt.password() is None
    assert parse_hub_settings("").database.resolved_url() == DEFAULT_DATABASE_URL
    monkeypatch.setenv(DATABASE_URL_ENV, "postgresql+psycopg://hub:s3cret@db/city")
    monkeypatch.setenv(MQTT_PASSWORD_ENV, "m0squ1tto")
    assert settings.database.resolved_url() == "postgresql+psycopg://hub:s3cret@db/city"
    assert settings.mqtt.password() == "m0squ1tto"


def test_camera_configs_load_relative_to_the_hub_config(tmp_path: Path) -> None:
    (tmp_path / "cams").mkdir()
    for camera in ("cam-1", "cam-2"):
        (tmp_path / "cams" / f"{camera}.toml").write_text(CAMERA.format(camera=camera))
    (tmp_path / "hub.toml").write_text('cameras = ["cams/cam-1.toml", "cams/cam-2.toml"]\n')
    cameras = load_hub_settings(tmp_path / "hub.toml").load_cameras()
    assert [(c.site, c.camera) for c in cameras] == [("plaza", "cam-1"), ("plaza", "cam-2")]

    (tmp_path / "twice.toml").write_text('cameras = ["cams/cam-1.toml", "cams/cam-1.toml"]\n')
    with pytest.raises(ConfigError, match="already configured"):
        load_hub_settings(tmp_path / "twice.toml").load_cameras()
    with pytest.raises(ConfigError, match="cannot read hub config"):
        load_hub_settings(tmp_path / "missing.toml")


def test_problems_are_counted_and_a_camera_config_given_as_the_hub_config_is_named(tmp_path: Path) -> None:
    text = "[api]\nport = 'x'\ncolour = 3\n\n[retention]\nraw_events_days = -1\n"
    with pytest.raises(ConfigError) as caught:
        parse_hub_settings(text, "hub.toml")
    assert str(caught.value).splitlines() == [
        "hub.toml: 3 problems",
        "hub.toml:2: api.port: Input should be a valid integer, unable to parse string as an integer",
        "hub.toml:3: api.colour: unknown field (check its spelling and section)",
        "hub.toml:6: retention.raw_events_days: Input should be greater than or equal to 1",
    ]
    # ten "Extra inputs are not permitted" lines before, and no word of the mix-up
    with pytest.raises(ConfigError, match=r"^cam.toml: this is a camera config \(it has site and camera\)"):
        parse_hub_settings(CAMERA.format(camera="cam-1"), "cam.toml")


def test_a_config_in_another_encoding_is_named_by_line_and_column(tmp_path: Path) -> None:
    from citytally.edge.config import load_camera_config

    latin = tmp_path / "latin.toml"
    latin.write_bytes('[api]\nhost = "127.0.0.1"  # café\n'.encode("latin-1"))  # was "position 36"
    said = f"{latin}:2: not UTF-8 (byte 0xE9 at column 26): save the file as UTF-8"
    with pytest.raises(ConfigError) as hub:
        load_hub_settings(latin)
    with pytest.raises(ConfigError) as camera:
        load_camera_config(latin)
    assert str(hub.value) == said and str(camera.value).endswith(said)
