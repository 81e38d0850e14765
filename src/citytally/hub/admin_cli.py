"""Subcommands for access, audit and retention (``citytally token``, ``citytally audit``, ...).

Every command reads the hub config (``--config``, else the defaults and ``$CITYTALLY_DATABASE_URL``),
brings the store's schema up to date and acts on it. Token changes made here are audited (actor ``cli``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    import sqlalchemy as sa

    from citytally.hub.access import IssuedToken
    from citytally.hub.config import HubSettings

__all__ = ["register", "create_first_admin", "print_first_admin_token", "printable"]

_CONFIG = typer.Option(None, "--config", "-c", help="Hub config file (TOML); default: built-in defaults.")
_CHECKPOINTS = typer.Option(
    None, "--checkpoints", help="Also check against this file of signed checkpoints ($CITYTALLY_AUDIT_KEY)."
)
_CHECKPOINT_TO = typer.Option(..., "--to", help="Append the signed checkpoint to this file.")


@contextmanager
def _open(config: Path | None, create: bool = False) -> Iterator[tuple[HubSettings, sa.Engine]]:
    """The hub settings and a migrated store, closed again when the command is done. Without ``create``,
    a SQLite store that is not there is a one-line error, not a new empty one (a mistyped path)."""
    from sqlalchemy.engine import make_url

    from citytally.errors import StoreError
    from citytally.hub.config import DATABASE_URL_ENV, load_hub_settings
    from citytally.hub.store import create_store_engine, migrate

    settings = load_hub_settings(config)
    url = make_url(settings.database.resolved_url())
    if not create and url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        raise StoreError(
            f"no hub store at {url.database or 'memory'!r}: set ${DATABASE_URL_ENV} or database.url in "
            "--config to the hub's database"
        )
    engine = create_store_engine(settings.database.resolved_url())
    try:
        migrate(engine)
        yield settings, engine
    finally:
        engine.dispose()


@contextmanager
def _open_existing(config: Path | None) -> Iterator[sa.Engine]:
    """An existing hub store, neither created nor migrated: checking an audit log must not invent one.

    Raises :class:`StoreError` (one line) when no store is configured or it holds no audit log.
    """
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from citytally.errors import StoreError
    from citytally.hub.config import DATABASE_URL_ENV, load_hub_settings
    from citytally.hub.store import create_store_engine
    from citytally.hub.store.damage import damage_in
    from citytally.redaction import redact_url

    settings = load_hub_settings(config)
    url = settings.database.resolved_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        raise StoreError(
            f"no hub store at {parsed.database or 'memory'!r}: set ${DATABASE_URL_ENV} or database.url in "
            "--config to the hub's database"
        )
    engine = create_store_engine(url, watch_damage=False)  # said in the one line below
    try:
        try:
            tables = set(sa.inspect(engine).get_table_names())
        except sa.exc.SQLAlchemyError as exc:
            said = damage_in(exc) or exc.__class__.__name__
            raise StoreError(f"{redact_url(url)}: cannot read the store: {said}") from None
        if not {"audit_log", "audit_head"} <= tables:
            raise StoreError(f"{redact_url(url)}: not a citytally hub store (no audit log tables)")
        yield engine
    finally:
        engine.dispose()


_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
_UNPRINTABLE = ("Zl", "Zp")  # line and paragraph separators; every "C*" category (control, format, ...)


def printable(text: str) -> str:
    """``text`` safe for a terminal: control and format characters (escape sequences, bidi overrides, line
    breaks) as Python-style escapes, so a label cannot move the cursor, recolour or forge lines."""
    out = []
    for char in text:
        if char in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[char])
        elif unicodedata.category(char) in _UNPRINTABLE or unicodedata.category(char)[0] == "C":
            out.append(ascii(char)[1:-1])  # \x1b, \u202e, \U000e0001
        else:
            out.append(char)
    return "".join(out)


def _audit_cli(engine: sa.Engine, actor: str, detail: Mapping[str, object]) -> None:
    from citytally.hub.audit import AuditEntry, append_entry

    append_entry(engine, AuditEntry(kind="token", actor=actor, detail=detail))


def create_first_admin(engine: sa.Engine, actor: str = "system") -> IssuedToken | None:
    """On a hub without tokens, create an admin token and audit its creation; ``None`` if tokens exist."""
    from citytally.hub.access import ensure_first_admin

    issued = ensure_first_admin(engine)
    if issued is not None:
        _audit_cli(
            engine,
            actor,
            {"action": "create", "token_id": issued.id, "role": issued.role, "expires_at": None},
        )
    return issued


def print_first_admin_token(engine: sa.Engine) -> bool:
    """For the ``hub`` command at start-up: on a hub without tokens, create an admin token and print it once.

    Returns whether one was created. There are no default credentials; this is the only way in at first.
    """
    issued = create_first_admin(engine)
    if issued is None:
        return False
    typer.echo(
        "No API tokens existed, so an admin token was created. It is shown ONCE; store it now:\n"
        f"  {issued.secret}\n"
        "Create others with `citytally token create --role viewer|operator|admin|auditor`.",
        err=True,
    )
    return True


def _token_app() -> typer.Typer:
    tokens = typer.Typer(help="API tokens: create, list, revoke.", no_args_is_help=True)

    @tokens.command("create")
    def create(
        role: str = typer.Option(..., "--role", "-r", help="viewer, operator, admin or auditor."),
        label: str = typer.Option("", "--label", help="Who or what the token is for."),
        expires_days: int | None = typer.Option(None, "--expires-days", min=1, max=36500, help="Lifetime."),
        config: Path | None = _CONFIG,
    ) -> None:
        """Create a token and print its secret (once; only its hash is stored)."""
        from citytally.hub.access import issue_token

        expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
        with _open(config, create=True) as (_, engine):  # a token before the hub first ran: its store
            issued = issue_token(engine, role, label=label, expires_at=expires)
            until = issued.expires_at.isoformat() if issued.expires_at else None
            detail = {"action": "create", "token_id": issued.id, "role": issued.role, "expires_at": until}
            _audit_cli(engine, "cli", detail)  # as the API's (docs/api.md)
        typer.echo(f"token id {issued.id} ({issued.role}); secret, shown once:", err=True)
        typer.echo(issued.secret)

    @tokens.command("list")
    def list_(config: Path | None = _CONFIG) -> None:
        """List tokens (ids, roles, state); never secrets."""
        from citytally.hub.access import list_tokens

        with _open(config) as (_, engine):
            found = list_tokens(engine)
        now = datetime.now(UTC)
        for token in found:
            state = (
                "revoked"
                if token.revoked_at
                else "expired"
                if token.expires_at and token.expires_at <= now
                else "active"
            )
            expires = token.expires_at.isoformat() if token.expires_at else "never"
            label = printable(token.label)
            typer.echo(f"{token.id}  {token.role:8s}  {state:7s}  expires {expires}  {label}")

    @tokens.command("revoke")
    def revoke(
        token_id: str = typer.Argument(..., help="The token's id."), config: Path | None = _CONFIG
    ) -> None:
        """Revoke a token; it stops working at once."""
        from citytally.errors import AuthError
        from citytally.hub.access import list_tokens, revoke_token

        with _open(config) as (_, engine):
            role = next((t.role for t in list_tokens(engine) if t.id == token_id), None)
            if not revoke_token(engine, token_id):
                raise AuthError(f"no active token with id {token_id!r}")
            _audit_cli(engine, "cli", {"action": "revoke", "token_id": token_id, "role": role})
        typer.echo(f"revoked {token_id}")

    return tokens


def _audit_app() -> typer.Typer:
    audit = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)

    @audit.command("verify")
    def verify(
        config: Path | None = _CONFIG,
        checkpoints: Path | None = _CHECKPOINTS,
    ) -> None:
        """Recompute the audit chain; exit 1 and say where it breaks if it does.

        Fails (exit 2) when no hub store is configured: an empty, new store would prove nothing.
        """
        from citytally.hub.audit import verify_chain
        from citytally.hub.audit_checkpoints import audit_key, read_checkpoints, verify_checkpoints

        signed = read_checkpoints(checkpoints, audit_key()) if checkpoints is not None else None
        with _open_existing(config) as engine:
            report = verify_chain(engine)
            against = verify_checkpoints(engine, signed) if signed is not None else None
        if not report.ok:
            typer.echo(f"audit log BROKEN at seq {report.broken_at}: {report.reason}", err=True)
            raise typer.Exit(1)
        if against is not None and not against.ok:
            typer.echo(f"audit log BROKEN at seq {against.broken_at}: {against.reason}", err=True)
            raise typer.Exit(1)
        typer.echo(f"audit log OK: {report.checked} entries, seq {report.first_seq}..{report.last_seq}")
        if against is not None:
            typer.echo(f"matches {against.checkpoints} signed checkpoints (newest: seq {against.newest_seq})")

    @audit.command("checkpoint")
    def checkpoint(
        to: Path = _CHECKPOINT_TO,
        config: Path | None = _CONFIG,
    ) -> None:
        """Append a signed checkpoint of the chain's head now, signed with $CITYTALLY_AUDIT_KEY (the hub
        also does so periodically where [audit] checkpoint_file is set)."""
        from citytally.hub.audit_checkpoints import audit_key, write_checkpoint

        key = audit_key()
        with _open_existing(config) as engine:
            written = write_checkpoint(engine, to, key)
        typer.echo(
            f"checkpoint: seq {written.seq}" if written else "checkpoint: head unchanged, nothing written"
        )

    return audit


def _retention_app() -> typer.Typer:
    retention = typer.Typer(help="Delete data older than the configured retention.", no_args_is_help=True)

    @retention.command("run")
    def run(config: Path | None = _CONFIG) -> None:
        """Run retention once, now (the hub also runs it periodically)."""
        from citytally.hub.retention import run_retention

        with _open(config) as (settings, engine):
            done = run_retention(engine, settings.retention)
        for pruned in done:
            where = f" ({pruned.camera})" if pruned.camera else ""
            typer.echo(
                f"{pruned.data_class}{where}: {pruned.deleted} rows before {pruned.cutoff.isoformat()}"
            )

    return retention


def register(app: typer.Typer) -> None:
    """Add the access/audit/retention commands to the top-level ``citytally`` app."""
    app.add_typer(_token_app(), name="token")
    app.add_typer(_audit_app(), name="audit")
    app.add_typer(_retention_app(), name="retention")
