"""A privacy impact assessment generated from the hub's configuration: purposes, the data kept and for how
long, who may see what, and the risks with their mitigations. Printable HTML (print CSS), no scripts.

It is generated, not written once, so that it cannot drift from what the hub actually does: the purposes,
legal bases and retention periods come from the camera registry, the roles from :mod:`citytally.hub.access`.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from citytally.hub.access import ROLE_GRANTS, ROLES, Role
from citytally.hub.register import (
    NEVER_DOES,
    RegisterEntry,
    RetentionRule,
    build_register,
    days_text,
    retention_rules,
)

if TYPE_CHECKING:
    from citytally.hub.config import RetentionSettings
    from citytally.hub.dashboard.settings import DashboardSettings

__all__ = ["ROLE_ACCESS", "RISKS", "DataHolding", "render_pia_html", "PIA_CSS"]

#: What each role can see or do, in words, for the assessment's access section.
ROLE_ACCESS: dict[Role, str] = {
    "viewer": "Aggregates only: counts, occupancy, speeds, turning movements, camera metadata, CSV exports.",
    "operator": "What a viewer sees, plus live incidents and acknowledging them.",
    "admin": "What an operator sees, plus configuration and issuing or revoking access tokens.",
    "auditor": "The audit log and its verification only; no traffic data.",
}

#: (risk, likelihood/impact before mitigation, mitigation built into citytally)
RISKS: tuple[tuple[str, str, str], ...] = (
    (
        "Cameras used to watch or identify individuals",
        "high impact",
        "Frames are analysed in memory at the edge and discarded; the hub receives only interval "
        "aggregates and its event schema refuses any other field. No face recognition, plate reading "
        "or re-identification exists in the software.",  # guard text: what citytally never does
    ),
    (
        "Track ids linking one person's movements over time",
        "medium impact",
        "Track ids are random per camera session, never leave the edge and never appear in an event.",
    ),
    (
        "Small counts revealing one person's presence (e.g. one pedestrian at 03:00)",
        "low likelihood, low impact",
        "Counts carry no identity; their time resolution is each camera's reporting interval (a minute by "
        "default; the register gives each camera's), an incident's its own start and end; access to the "
        "dashboard requires a token; the public register shows no counts.",
    ),
    (
        "Images leaking through snapshots or previews",
        "medium impact",
        "Off by default; when an operator enables them, every person, face and vehicle the detectors find "
        "(road users by a low-threshold detector and by the camera's own, and faces) is filled solid "
        "before the image is written, irreversibly. One that none finds would stay visible, so an image "
        "is looked at before it is shared. They stay "
        "where they were written (the edge's disk; a still copied to the hub's stills folder) until an "
        "operator deletes them.",
    ),
    (
        "Unauthorised access to the hub",
        "medium likelihood",
        "Bearer tokens of 256 random bits, stored only as hashes, with roles; failed logins are throttled; "
        "every API call is written to a hash-chained audit log.",
    ),
    (
        "Function creep: data reused for purposes not stated",
        "medium likelihood",
        "Every camera's purpose and legal basis is published in the public register; the auditor role "
        "reviews the audit log; data is deleted when its retention period ends.",
    ),
    (
        "Data kept longer than needed",
        "medium likelihood",
        "Each camera's data and each of the hub's records has a retention period but the registry, the "
        "access tokens, the geometry history and the images written on request (section 3); the hub's "
        "retention job deletes what is older, every hour, and records each deletion in the audit log.",
    ),
)


@dataclass(frozen=True)
class DataHolding:
    """One kind of data the hub keeps."""

    name: str
    contents: str
    retention: str
    personal: str


def _kept(rule: RetentionRule) -> str:
    return days_text(rule.days) if rule.days is not None else "until an operator deletes it"


def _holdings(cameras: list[RegisterEntry], retention: RetentionSettings | None) -> list[DataHolding]:
    """The data the hub keeps, with the retention the register states (the same rules, generated from
    the settings the retention job enforces)."""
    hub = {r.data_class: _kept(r) for r in retention_rules(retention)}
    per_camera = sorted(
        {_kept(r) for c in cameras for r in c.retention_rules if r.data_class == "raw_events"}
    )
    raw = ", ".join(per_camera) if per_camera else hub["raw_events"]
    if len(per_camera) > 1:
        raw = f"{raw} (per camera)"
    rollups, audit, dead = hub["rollups"], hub["audit_log"], hub["dead_letters"]
    return [
        DataHolding(
            "Events",
            "Per camera and interval: counts, occupancy, speed statistics, turning movements, incidents "
            "(the event as received; speed statistics and incidents also as one row per number)",
            raw,
            "No",
        ),
        DataHolding(
            "Roll-ups",
            "15-minute, hourly and daily sums of the same numbers, and when a camera's view was knocked, "
            "turned, covered or out of focus (its view_changed incidents: which sums may be wrong); once "
            "the events are deleted, over which stretches of time each line or zone was counted and the ids "
            "of a recording's incident reports (so that a recording analysed again is not counted twice)",
            rollups,
            "No",
        ),
        DataHolding(
            "Incident acknowledgements",
            "Which token acknowledged an incident, and when (a camera's view changes keep when, without who, "
            f"as long as the sums they mark; the request itself is in the audit log, kept {audit})",
            raw,
            "Indirectly (a token belongs to a staff member)",
        ),
        DataHolding(
            "Camera registry",
            "Position, place, purpose, legal basis, retention, contact, when first registered",
            "Without limit (a camera that leaves the configuration stays, so its history keeps them)",
            "Only if a contact names a person",
        ),
        DataHolding(
            "Geometry history",
            "Every version of a camera's count lines and zones, with the id and label of the token that "
            "saved one in the dashboard's editor",
            "Without limit",
            "Indirectly (a label may name a staff member)",
        ),
        DataHolding(
            "Audit log",
            "Time, token id, role, request, client address and outcome of every API call",
            audit,
            "Yes: staff token ids and client IP addresses",
        ),
        DataHolding(
            "Failed logins",
            "Client address and time, to throttle guessing (the hub's log names the address too, kept as "
            "long as the city keeps that log)",
            hub["login_failures"],
            "Yes: IP addresses",
        ),
        DataHolding(
            "Refused messages",
            "Messages ingest could not accept, as they came, with the reason",
            dead,
            "Not expected (edges send none), but a message is kept as it came, whatever a sender put in it",
        ),
        DataHolding(
            "Access tokens",
            "SHA-256 hash of each token, its role, label and expiry (never the token itself)",
            "Without limit (a revoked token stays, revoked, for the audit trail)",
            "Indirectly (a label may name a staff member)",
        ),
        DataHolding(
            "Images, only on request",
            "Masked stills (on the hub, to draw lines and zones on) and masked incident snapshots and "
            "previews (at the edge), where an operator turned them on",
            "Until an operator deletes them",
            "Not once masked, but for anyone the detectors missed",
        ),
    ]


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _table(headers: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    # a region that scrolls sideways on a phone must be reachable by keyboard (WCAG 2.1.1)
    label = _e("Table: " + ", ".join(headers))
    return (
        f'<div class="table-scroll" tabindex="0" role="region" aria-label="{label}">'
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


#: The assessment's stylesheet, served at ``/pia.css`` (a strict content security policy forbids inline
#: styles).
PIA_CSS = """
body{font:15px/1.5 system-ui,sans-serif;color:#1d2330;max-width:60rem;margin:0 auto;padding:1rem 1.5rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}
th,td{border:1px solid #ccd2da;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#eef1f5} .meta{color:#5d6675} nav a{margin-right:1rem}
.table-scroll{overflow-x:auto}
.skip{position:absolute;left:-999px} .skip:focus{left:1rem;top:.5rem;background:#fff;padding:.25rem .5rem}
@page{size:A4;margin:18mm}
@media print{nav,.skip{display:none} body{font-size:10.5pt;max-width:none;padding:0} h2{break-after:avoid}
 tr{break-inside:avoid}
 th{background:#eee !important;-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""


def render_pia_html(
    engine: sa.Engine,
    settings: DashboardSettings,
    retention: RetentionSettings | None = None,
    now: datetime | None = None,
) -> str:
    """The assessment for the hub behind ``engine``, as one printable HTML page.

    ``retention`` is the hub's retention settings (None: nothing is deleted automatically).
    """
    register = build_register(engine, settings, now, retention)
    by_purpose: dict[tuple[str, str], list[str]] = defaultdict(list)
    for cam in register.cameras:
        by_purpose[(cam.purpose, cam.legal_basis)].append(cam.reference)
    purposes = [(p, b, ", ".join(refs)) for (p, b), refs in sorted(by_purpose.items())]
    holdings = _holdings(register.cameras, retention)
    roles = [(r, ROLE_ACCESS[r], ", ".join(sorted(ROLE_GRANTS[r]))) for r in ROLES]
    cameras = [(c.reference, c.name, c.location, c.retention, c.contact) for c in register.cameras]
    generated = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Privacy impact assessment</title><link rel="stylesheet" href="/pia.css"></head>
<body>
<a class="skip" href="#main">Skip to the assessment</a>
<nav aria-label="Related pages"><a href="/register">Public register</a>
<a href="/register.json">Register as JSON</a></nav>
<main id="main">
<h1>Privacy impact assessment</h1>
<p class="meta">Controller: {_e(register.owner)} · {len(register.cameras)} camera(s) ·
generated from the hub's configuration on {_e(generated)}</p>
<h2>1. What the processing is</h2>
<p>Cameras in public space are analysed by citytally's edge software next to each camera. It detects road
users (people, bicycles, cars, motorcycles, buses, trucks), follows them within one camera's view only, and
turns what it sees into numbers per interval: crossings of count lines, occupancy of zones, turning
movements, speed statistics and traffic conflicts (near misses), plus incidents about a place. Frames are
discarded after analysis. Those numbers reach the hub (and masked still images, where an operator copies
them there to draw lines and zones on), which stores them, sums them up, shows them to authorised staff and
passes each incident on over MQTT to the systems the city connects to its alert topic.</p>
<h2>2. Purposes and legal bases</h2>
{_table(("Purpose", "Legal basis", "Cameras"), purposes) if purposes else "<p>No cameras registered.</p>"}
<h2>3. Data kept and for how long</h2>
{
        _table(
            ("Data", "Contents", "Kept", "Personal data?"),
            [(h.name, h.contents, h.retention, h.personal) for h in holdings],
        )
    }
<h2>4. Who has access</h2>
{_table(("Role", "May see and do", "Grants"), roles)}
<p>The public sees the camera register and this assessment, never counts or incidents. Systems the city
connects to the broker's alert topic get each incident (place, type, severity, times and its numbers; no
image).</p>
<h2>5. What the system never does</h2>
<ul>{"".join(f"<li>{_e(n)}</li>" for n in NEVER_DOES)}</ul>
<h2>6. Risks and mitigations</h2>
{_table(("Risk", "Without mitigation", "Mitigation"), list(RISKS))}
<h2>7. Cameras covered</h2>
{_table(("Reference", "Name", "Location", "Retention", "Contact"), cameras) if cameras else "<p>None.</p>"}
</main>
</body></html>"""
