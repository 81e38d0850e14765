"""What an operator can set about the dashboard: base map, optional tile server, the register's owner."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["DashboardSettings", "EXAMPLE_BASEMAP"]

#: The small example base map shipped with citytally (a plaza and its streets around the demo camera).
EXAMPLE_BASEMAP = Path(__file__).resolve().parents[4] / "examples" / "demo-plaza.geojson"


class DashboardSettings(BaseModel):
    """Dashboard and transparency-register settings. Nothing here is secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    basemap_geojson: Path | None = Field(
        default=None,
        description="GeoJSON file drawn under the cameras (features with a 'kind' property: street, "
        "building, plaza, park, water, cycleway, footway). None: the shipped example if present.",
    )
    basemap_attribution: str = Field(
        default="Base map: site drawing", max_length=200, description="Credit shown for the base map."
    )
    tile_url: str | None = Field(
        default=None,
        max_length=500,
        description="Optional tile server, e.g. https://tiles.example.org/{z}/{x}/{y}.png. Browsers fetch "
        "tiles from it directly, so leave it unset where the dashboard must not reach outside.",
    )
    tile_attribution: str = Field(default="", max_length=300, description="Credit the tile server requires.")
    live_poll_seconds: float = Field(
        default=0.5, ge=0.05, le=10, description="How often the live stream looks for newly stored events."
    )
    organisation: str = Field(
        default="The city's traffic department",
        min_length=1,
        max_length=200,
        description="Who runs the cameras (the register's 'owner').",
    )
    privacy_contact: str = Field(
        default="",
        max_length=320,
        description="Where people send privacy questions (shown when a camera names no contact).",
    )
    privacy_statement_url: str | None = Field(
        default=None, max_length=500, description="Link to the organisation's privacy statement, if any."
    )

    @field_validator("tile_url")
    @classmethod
    def _tile_url_has_placeholders(cls, value: str | None) -> str | None:
        if value is not None and not all(p in value for p in ("{z}", "{x}", "{y}")):
            raise ValueError("must contain {z}, {x} and {y}")
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    def basemap_path(self) -> Path | None:
        """The base-map file to serve, or None when there is none."""
        if self.basemap_geojson is not None:
            return self.basemap_geojson
        return EXAMPLE_BASEMAP if EXAMPLE_BASEMAP.is_file() else None
