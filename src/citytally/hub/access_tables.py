"""The access and audit tables: API tokens, failed logins, the audit log and its head row.

They share the hub database's :data:`~citytally.hub.db_metadata.metadata` with the store's tables (the store
schema imports this module), so migrations and schema checks see one set of tables. Created by migration
``0002``.
"""

from __future__ import annotations

import sqlalchemy as sa

from citytally.hub.db_metadata import UtcDateTime, metadata

__all__ = ["tokens_table", "login_failures_table", "audit_log_table", "audit_head_table"]

tokens_table = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String(16), primary_key=True),  # public id, safe to log
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),  # sha256 hex of the secret
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("label", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=True),
    sa.Column("revoked_at", UtcDateTime(), nullable=True),
)

login_failures_table = sa.Table(
    "login_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("client", sa.String(100), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Index("ix_login_failures_client_at", "client", "at"),
)

audit_log_table = sa.Table(
    "audit_log",
    metadata,
    sa.Column(
        "seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    sa.Column("at", UtcDateTime(), nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=True),
    sa.Column("method", sa.String(16), nullable=False, server_default=""),
    sa.Column("path", sa.String(2000), nullable=False, server_default=""),
    sa.Column("query", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.Integer, nullable=True),
    sa.Column("client", sa.String(100), nullable=True),
    sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

audit_head_table = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
    sa.Column("last_hash", sa.String(64), nullable=False),
)
