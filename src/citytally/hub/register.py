"""The public transparency register: every camera, where it is, why, on what legal basis, what it computes,
what it never does, how long its data is kept and whom to ask.

The fields follow the public sensor registers cities keep (Amsterdam's sensor register names, for each
sensor, its type, owner, location, purpose, whether personal data is processed, a contact and a privacy
statement); citytally adds the legal basis, what is computed, what is never done and the retention.
"""

from __future__ import annotations

import html
from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from citytally.hub.retention import DATA_CLASSES, LOGIN_FAILURE_DAYS
from citytally.hub.store import schema

if TYPE_CHECKING:
    from citytally.hub.config import RetentionSettings
    from citytally.hub.dashboard.settings import DashboardSettings

__all__ = [
    "NEVER_DOES",
    "SENSOR_TYPE",
    "PERSONAL_DATA",
    "RetentionRule",
    "RegisterEntry",
    "Register",
    "retention_rules",
    "build_register",
    "days_text",
    "render_register_html",
    "REGISTER_CSS",
]

SENSOR_TYPE = "Optical sensor (camera) with on-site analysis into anonymous counts"

PERSONAL_DATA = (
    "Video frames are analysed in memory next to the camera and discarded; no video is stored or sent. "
    "What leaves the camera is numbers per reporting interval, with no identity: counts, and speed and "
    "dwell-time statistics per class (where one road user passed in an interval, its own), and incidents "
    "about a place. An image leaves it only where an operator asks for one (a still to draw lines and "
    "zones on, incident snapshots), with every person, face and vehicle the detectors find filled in solid."
)

#: citytally's privacy boundary, in words a passer-by reads. These are properties of the software.
NEVER_DOES: tuple[str, ...] = (
    "No face recognition and no face templates",
    "No guessing of ethnicity, gender, age, emotion or any other personal trait",  # guard text: never does
    "No recognition of the same person or vehicle across cameras or over time",
    "No licence-plate reading",  # guard text: never does
    "No phone, call or social-media monitoring",
    "No predictions about individuals",
    "No video leaves the camera site, and an image only where an operator asks for one, with every "
    "person, face and vehicle the detectors find filled in solid before it is saved",
)


#: What each of the retention job's data classes holds, in words (keys: ``retention.DATA_CLASSES``).
DATA_CLASS_TEXT: dict[str, str] = {
    "raw_events": "Counts, occupancy, speed statistics, turning movements and incidents per reporting "
    "interval, as the camera sent them (but for the camera's own view changes, kept with the sums)",
    "rollups": "15-minute, hourly and daily sums of the same numbers (what charts and exports show), and "
    "when the camera's view was knocked, turned, covered or out of focus (which of those sums may be wrong) "
    "and over which stretches of time each line or zone was counted",
    "dead_letters": "Messages the hub refused, kept to find the fault",
    "audit_log": "Audit log of every API call (token id, role, request, client address)",
    "login_failures": "Failed logins (client address and time), to slow down token guessing",
}
#: Data classes that hold a camera's own data (the others are the hub's records).
CAMERA_CLASSES = ("raw_events", "rollups")


class RetentionRule(BaseModel):
    """How long one class of data is kept: generated from the settings the retention job enforces."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_class: str = Field(description="The retention job's name for the class (see hub.retention).")
    data: str = Field(description="What the class holds, in words.")
    days: int | None = Field(description="Deleted once older than this many days; None: not automatically.")
    text: str = Field(description="The rule in words, as the register prints it.")


def days_text(days: int) -> str:
    """``1 day``, ``30 days``."""
    return "1 day" if days == 1 else f"{days} days"


def _rule(data_class: str, days: int | None, clock: str) -> RetentionRule:
    text = (
        f"{days_text(days)} after {clock}, then deleted automatically"
        if days is not None
        else "Kept until an operator deletes it (no automatic deletion is configured)"
    )
    return RetentionRule(data_class=data_class, data=DATA_CLASS_TEXT[data_class], days=days, text=text)


def retention_rules(
    retention: RetentionSettings | None, camera_days: int | None = None
) -> list[RetentionRule]:
    """Every data class's retention as the retention job applies it (``retention``: the hub's
    ``[retention]`` settings, None when no retention job runs; ``camera_days``: the camera's own limit,
    which bounds only its raw events, and only when shorter than the hub's)."""
    if retention is None:
        return [_rule(name, None, "") for name in DATA_CLASSES]
    limits = [d for d in (retention.raw_events_days, camera_days) if d is not None]
    days = {
        "raw_events": min(limits) if limits else None,
        "rollups": retention.rollups_days,
        "dead_letters": retention.dead_letters_days,
        "audit_log": retention.audit_log_days,
        "login_failures": LOGIN_FAILURE_DAYS,
    }
    clocks = {
        "raw_events": "the start of the interval",
        "rollups": "the start of the 15 minutes, hour or day they sum",
        "dead_letters": "they arrived",
        "audit_log": "the call",
        "login_failures": "the attempt",
    }
    return [_rule(name, days[name], clocks[name]) for name in DATA_CLASSES]


def _summary(rules: list[RetentionRule]) -> str:
    def days(rule: RetentionRule) -> str:
        return f"{rule.days} days" if rule.days is not None else "until deleted by an operator"

    return "; ".join(f"{_SHORT[r.data_class]} {days(r)}" for r in rules)


_SHORT = {
    "raw_events": "interval records",
    "rollups": "15-min/hourly/daily sums",
    "dead_letters": "refused messages",
    "audit_log": "audit log",
    "login_failures": "failed logins",
}


class RegisterEntry(BaseModel):
    """One camera as the public sees it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reference: str = Field(description="site/camera: the id used in every citytally record.")
    name: str
    sensor_type: str
    owner: str
    theme: str = "Mobility and public space"
    location: str
    lat: float | None
    lon: float | None
    purpose: str
    legal_basis: str
    personal_data: str
    computes: list[str]
    never_does: list[str]
    retention: str = Field(description="The camera's retention in one line (from retention_rules).")
    retention_days: int | None = Field(
        description="The longest any of this camera's data is kept, in days (None: no automatic deletion)."
    )
    retention_rules: list[RetentionRule] = Field(description="Each class of this camera's data.")
    contact: str
    privacy_statement_url: str | None
    registered_since: datetime


class Register(BaseModel):
    """The whole register, as served at ``/register.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    owner: str
    generated_at: datetime
    cameras: list[RegisterEntry]
    hub_retention: list[RetentionRule] = Field(description="The hub's own records (not per camera).")


def _computes(lines: list[dict[str, Any]], zones: list[str], config: dict[str, Any]) -> list[str]:
    seconds = config.get("interval_seconds")
    items = [f"Numbers per {_duration(seconds)}, the finest time the hub holds" if seconds else ""]
    items = [i for i in items if i]
    for line in lines:
        dirs = line.get("directions") or []
        how = f" ({' / '.join(str(d) for d in dirs)})" if dirs else ""
        items.append(f"Crossings of line '{line['name']}' per direction{how} and road-user class")
    if zones:
        items.append(f"How many road users are in zone(s) {', '.join(zones)} and for how long, on average")
    turning = config.get("turning")
    if isinstance(turning, dict) and turning.get("zones"):
        items.append("Turning movements: how many road users go from each zone to each other zone")
    if config.get("speed"):
        items.append("Speed statistics per line (mean and 85th percentile of the road users measured)")
    conflicts = config.get("conflicts")
    if isinstance(conflicts, list) and conflicts:
        where = ", ".join(str(c.get("zone")) for c in conflicts if isinstance(c, dict))
        items.append(
            f"Traffic conflicts (near misses) in zone(s) {where}: how many, of what type and severity, "
            "where in the zone, and their time-to-collision and post-encroachment times"
        )
    items.append("Where incident detection is on: incidents about a place (a zone or a line), naming no one")
    incidents = config.get("incidents")
    if isinstance(incidents, dict) and incidents.get("snapshots"):
        items.append("A masked snapshot of each incident as it opens (turned on for this camera)")
    return items


def _duration(seconds: object) -> str:
    n = int(seconds) if isinstance(seconds, int | float) else 0
    if n % 3600 == 0 and n >= 3600:
        return f"{n // 3600} hour{'s' if n > 3600 else ''}"
    if n % 60 == 0 and n >= 60:
        return "minute" if n == 60 else f"{n // 60} minutes"
    return f"{n} seconds"


def build_register(
    engine: sa.Engine,
    settings: DashboardSettings,
    now: datetime | None = None,
    retention: RetentionSettings | None = None,
) -> Register:
    """Read the camera registry from the store and describe each camera for the public.

    ``retention`` is the hub's ``[retention]`` settings, the ones its retention job enforces (None: no job
    runs, so nothing is deleted automatically and the register says so)."""
    c, ln, z = schema.cameras, schema.lines, schema.zones
    with engine.connect() as conn:
        cams = conn.execute(sa.select(c).order_by(c.c.site, c.c.camera)).all()
        line_rows = conn.execute(sa.select(ln.c.site, ln.c.camera, ln.c.line, ln.c.config)).all()
        zone_rows = conn.execute(sa.select(z.c.site, z.c.camera, z.c.zone)).all()
    lines_of: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in line_rows:
        cfg = r.config if isinstance(r.config, dict) else {}
        lines_of[(r.site, r.camera)].append({"name": r.line, "directions": cfg.get("directions")})
    zones_of: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in zone_rows:
        zones_of[(r.site, r.camera)].append(r.zone)
    entries = [_entry(row, lines_of, zones_of, settings, retention) for row in cams]
    hub_rules = [r for r in retention_rules(retention) if r.data_class not in CAMERA_CLASSES]
    return Register(
        owner=settings.organisation,
        generated_at=now or datetime.now(UTC),
        cameras=entries,
        hub_retention=hub_rules,
    )


def _entry(
    row: sa.Row[Any],
    lines_of: dict[tuple[str, str], list[dict[str, Any]]],
    zones_of: dict[tuple[str, str], list[str]],
    settings: DashboardSettings,
    retention: RetentionSettings | None,
) -> RegisterEntry:
    key = (row.site, row.camera)
    config = row.config if isinstance(row.config, dict) else {}
    found = config.get("metadata")
    metadata: dict[str, Any] = found if isinstance(found, dict) else {}
    rules = [r for r in retention_rules(retention, row.retention_days) if r.data_class in CAMERA_CLASSES]
    kept = [r.days for r in rules]
    # The organisation's name is who to ask, not how: say so rather than show it as if it were a contact.
    contact = row.contact or settings.privacy_contact
    asked = "the contact" if contact else "the owner"
    return RegisterEntry(
        reference=f"{row.site}/{row.camera}",
        name=row.camera,
        sensor_type=SENSOR_TYPE,
        owner=settings.organisation,
        location=str(row._mapping.get("location") or metadata.get("location") or _where(row.lat, row.lon)),
        lat=row.lat,
        lon=row.lon,
        purpose=row.purpose or f"Not stated (ask {asked})",
        legal_basis=row.legal_basis or f"Not stated (ask {asked})",
        personal_data=PERSONAL_DATA,
        computes=_computes(sorted(lines_of[key], key=lambda d: d["name"]), sorted(zones_of[key]), config),
        never_does=list(NEVER_DOES),
        retention=_summary(rules),
        retention_days=None if None in kept else max(d for d in kept if d is not None),
        retention_rules=rules,
        contact=contact or f"None published: ask the owner, {settings.organisation}",
        privacy_statement_url=settings.privacy_statement_url,
        registered_since=row.registered_at or row.updated_at,
    )


def _where(lat: float | None, lon: float | None) -> str:
    return f"{lat:.5f}, {lon:.5f}" if lat is not None and lon is not None else "Location not published"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _rules_html(rules: list[RetentionRule]) -> str:
    items = "".join(f"<li>{_e(r.data)}: <strong>{_e(r.text)}</strong></li>" for r in rules)
    return f'<ul class="retention">{items}</ul>'


def _entry_html(e: RegisterEntry) -> str:
    osm = f"{e.lat:.5f}, {e.lon:.5f}" if e.lat is not None and e.lon is not None else "not published"
    statement = (
        f'<a href="{_e(e.privacy_statement_url)}">privacy statement</a>' if e.privacy_statement_url else ""
    )
    return f"""
<article class="camera" id="{_e(e.reference.replace("/", "--"))}">
  <h2>{_e(e.name)} <small>{_e(e.reference)}</small></h2>
  <dl>
    <dt>Sensor type</dt><dd>{_e(e.sensor_type)}</dd>
    <dt>Owner</dt><dd>{_e(e.owner)}</dd>
    <dt>Location</dt><dd>{_e(e.location)} <span class="coords">({osm})</span></dd>
    <dt>Purpose</dt><dd>{_e(e.purpose)}</dd>
    <dt>Legal basis</dt><dd>{_e(e.legal_basis)}</dd>
    <dt>Personal data</dt><dd>{_e(e.personal_data)}</dd>
    <dt>What it computes</dt><dd><ul>{"".join(f"<li>{_e(i)}</li>" for i in e.computes)}</ul></dd>
    <dt>What it never does</dt><dd><ul>{"".join(f"<li>{_e(i)}</li>" for i in e.never_does)}</ul></dd>
    <dt>Retention</dt><dd>{_rules_html(e.retention_rules)}</dd>
    <dt>Contact</dt><dd>{_e(e.contact)} {statement}</dd>
    <dt>Registered since</dt><dd>{_e(e.registered_since.date().isoformat())}</dd>
  </dl>
</article>"""


#: The register's stylesheet, served at ``/register.css`` (a strict content security policy forbids inline
#: styles).
REGISTER_CSS = """
body{font:16px/1.5 system-ui,sans-serif;color:#1d2330;max-width:60rem;margin:0 auto;padding:1rem 1.5rem}
h1{margin-bottom:.25rem} h2 small{color:#5d6675;font-weight:400;font-size:.8em}
article{border-top:1px solid #dde1e7;padding:.5rem 0 1rem}
dl{display:grid;grid-template-columns:12rem 1fr;gap:.3rem 1rem;margin:0} dt{font-weight:600} dd{margin:0}
dd ul{margin:0;padding-left:1.2rem} .coords{color:#5d6675} nav a{margin-right:1rem}
.skip{position:absolute;left:-999px} .skip:focus{left:1rem;top:.5rem;background:#fff;padding:.25rem .5rem}
@media (max-width:40rem){dl{grid-template-columns:1fr} dd{margin-bottom:.4rem}}
@media print{nav,.skip{display:none} article{break-inside:avoid}}
"""


def render_register_html(register: Register) -> str:
    """The register as a self-contained, printable HTML page (no script, no external resources)."""
    body = "".join(_entry_html(e) for e in register.cameras) or "<p>No cameras are registered.</p>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Public camera register</title><link rel="stylesheet" href="/register.css"></head>
<body>
<a class="skip" href="#main">Skip to the register</a>
<nav aria-label="Related pages"><a href="/register.json">This register as JSON</a>
<a href="/pia">Privacy impact assessment</a><a href="/dashboard/">Dashboard (login)</a></nav>
<main id="main">
<h1>Public camera register</h1>
<p>{_e(register.owner)} analyses the cameras below into anonymous counts of road users. This page lists
every camera: where it is, why it is there and what it does and never does. It is public and needs no login.
{len(register.cameras)} camera(s); generated {_e(register.generated_at.strftime("%Y-%m-%d %H:%M UTC"))}.</p>
{body}
<section id="hub-records"><h2>The hub's own records</h2>
<p>Besides each camera's data, the hub keeps these records about its own operation:</p>
{_rules_html(register.hub_retention)}</section>
</main>
</body></html>"""
