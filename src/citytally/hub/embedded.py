"""An in-process hub for the demo and for a first try: SQLite store, in-process bus, no broker, no server.

```python
hub = open_embedded_hub(Path("demo-out/hub.sqlite3"), cameras=[camera_config])
pipeline = build_pipeline(camera_config, hub.bus)   # events are stored as they are published
...
app = create_app(hub.settings, hub.engine)          # the API and dashboard read the same store
hub.close()
```
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine

from citytally.edge.config import CameraConfig
from citytally.events import Event
from citytally.hub.config import DatabaseSettings, HubSettings
from citytally.hub.store import (
    EventWriter,
    WriteResult,
    create_store_engine,
    migrate,
    sqlite_url,
    sync_registry,
)
from citytally.transport.bus import InProcessBus, Subscriber

__all__ = ["EmbeddedHub", "open_embedded_hub", "store_subscriber"]


@dataclass
class EmbeddedHub:
    """The parts of a running in-process hub. ``totals`` counts what the bus stored."""

    settings: HubSettings
    engine: Engine
    writer: EventWriter
    bus: InProcessBus
    totals: WriteResult = field(default_factory=WriteResult)

    def close(self) -> None:
        """Stop in reverse order of building: bus, then the database connections."""
        self.bus.close()
        self.engine.dispose()


def open_embedded_hub(
    database: Path,
    cameras: Sequence[CameraConfig] = (),
    settings: HubSettings | None = None,
) -> EmbeddedHub:
    """Build an in-process hub storing to the SQLite file ``database``, with ``cameras`` registered.

    ``settings`` (defaults otherwise) are kept for the API; their database URL is replaced by ``database``.
    """
    url = sqlite_url(database)
    base = settings or HubSettings()
    settings = base.model_copy(update={"database": DatabaseSettings(url=url)})
    engine = create_store_engine(url)
    migrate(engine)
    sites = {slug: site.model_dump() for slug, site in settings.sites.items()}
    sync_registry(engine, cameras, sites)
    writer = EventWriter(engine, topic_prefix=settings.mqtt.topic_prefix)
    bus = InProcessBus()
    hub = EmbeddedHub(settings=settings, engine=engine, writer=writer, bus=bus)
    bus.subscribe(store_subscriber(writer, hub.totals))
    return hub


def store_subscriber(writer: EventWriter, totals: WriteResult | None = None) -> Subscriber:
    """A subscriber that stores each event through ``writer`` (adding its outcome to ``totals``)."""

    def store(event: Event) -> None:
        result = writer.write_events([event])
        if totals is not None:
            totals.add(result)

    return store
