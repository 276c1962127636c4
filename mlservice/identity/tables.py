"""The identity store's tables (SQLAlchemy Core): personal tokens, hand-off codes, sessions, GitHub accounts.

One ``metadata`` for all of them: ``TokenStore`` creates the missing ones at start. Secrets (tokens,
codes, session ids) are stored only as SHA-256 hashes; a GitHub OAuth token only encrypted.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(120), nullable=False, index=True),  # a principal id: github:<id>, service:<name>
    sa.Column("owner_login", sa.String(100), nullable=True),  # shown only
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    # the token that authenticated the creation of this one: it bounds this one's life and revocation
    sa.Column("parent_id", sa.String(32), nullable=True, index=True),
)

handoff_codes = sa.Table(
    "handoff_codes",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("login", sa.String(100), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("github_id", sa.BigInteger, nullable=True),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    # sha256 of the nonce the dashboard session that started sign-in keeps (login CSRF)
    sa.Column("binding", sa.String(64), nullable=True),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("principal", sa.String(120), nullable=False, index=True),
    sa.Column("login", sa.String(100), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)

github_accounts = sa.Table(
    "github_accounts",
    metadata,
    sa.Column("principal", sa.String(120), primary_key=True),  # github:<numeric id>
    sa.Column("login", sa.String(100), nullable=False),
    sa.Column("access_token", sa.Text, nullable=True),  # Fernet-encrypted with a key derived from SECRET_KEY
    sa.Column("member", sa.Boolean, nullable=False),  # the last answer: in an allowed organisation
    sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),  # last time GitHub answered
)
