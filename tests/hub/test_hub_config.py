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
        ("[mqtt]\npassword = 'x'\n", "mqtt.password: Extra inputs are not permitted"),
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
    with pytest.raises(ConfigError, match=f"^hub.toml: {error}" if "TOML" not in error else error) as caught:
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
