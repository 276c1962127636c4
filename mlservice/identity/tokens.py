"""The identity store: personal API tokens and one-time sign-in hand-off codes (hashed), and the static secrets.

Knows nothing of HTTP: the REST and gRPC adapters (``flask_adapter``, ``grpc_adapter``) and the
``Authenticator`` use it. Tokens live in the service's own database (SQLAlchemy: PostgreSQL in
deployment, SQLite in the embedded default); only their SHA-256 hashes are stored.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from mlservice.database import aware, create_engine, create_tables, iso, utc_now
from mlservice.identity.principal import SERVICE_NAME_PATTERN, Principal
from mlservice.settings import Settings

HANDOFF_TTL = timedelta(minutes=2)
HANDOFF_TOKEN_TTL = timedelta(hours=12)
TOKEN_PREFIX = "mls_"  # noqa: S105  # a visible prefix so leaked tokens are recognisable, not a secret


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


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
)
handoff_codes = sa.Table(
    "handoff_codes",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("login", sa.String(100), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("github_id", sa.BigInteger, nullable=True),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)


class TokenStore:
    """Personal API tokens and one-time hand-off codes, hashed, in SQLAlchemy (SQLite or PostgreSQL)."""

    def __init__(self, database_url: str):
        self.engine = create_engine(database_url)
        create_tables(self.engine, metadata)

    def create(self, owner: Principal, name: str, expires_days: float | None) -> tuple[dict, str]:
        """A new token that acts as owner; returns (its record, the secret shown once)."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = utc_now()
        record = {
            "id": uuid.uuid4().hex,
            "owner": owner.id,
            "owner_login": owner.login,
            "name": name,
            "token_hash": _hash(secret),
            "created_at": now,
            "expires_at": now + timedelta(days=expires_days) if expires_days else None,
            "revoked_at": None,
        }
        with self.engine.begin() as conn:
            conn.execute(api_tokens.insert().values(**record))
        return self._public(record), secret

    @staticmethod
    def _public(row) -> dict:
        row = dict(row)
        return {
            "id": row["id"],
            "name": row["name"],
            "owner": row["owner"],
            "created_at": iso(row["created_at"]),
            "expires_at": iso(row["expires_at"]),
            "revoked": row["revoked_at"] is not None,
        }

    def list(self, owner: Principal) -> list[dict]:
        """The owner's tokens, newest first (never the secrets)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(api_tokens).where(api_tokens.c.owner == owner.id).order_by(api_tokens.c.created_at.desc())
            ).mappings()
            return [self._public(row) for row in rows]

    def revoke(self, owner: Principal, token_id: str) -> bool:
        """Revoke one of owner's tokens; False when there is no such token of theirs."""
        with self.engine.begin() as conn:
            result = conn.execute(
                api_tokens.update()
                .where(api_tokens.c.id == token_id, api_tokens.c.owner == owner.id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=utc_now())
            )
            return result.rowcount == 1

    def verify(self, secret: str) -> Principal | None:
        """The principal of a valid (known, unexpired, unrevoked) personal token."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(api_tokens).where(api_tokens.c.token_hash == _hash(secret))).mappings().first()
        if row is None or row["revoked_at"] is not None:
            return None
        expires_at = aware(row["expires_at"])
        if expires_at is not None and expires_at <= utc_now():
            return None
        return Principal.from_id(row["owner"], row["owner_login"], via="token", token_id=row["id"])

    def create_handoff(self, user: dict) -> str:
        """A one-time code for the dashboard to exchange for a token for user."""
        code = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                handoff_codes.insert().values(
                    code_hash=_hash(code),
                    login=user["login"],
                    name=user.get("name") or "",
                    github_id=user.get("id"),
                    expires_at=utc_now() + HANDOFF_TTL,
                )
            )
        return code

    def redeem_handoff(self, code: str) -> dict | None:
        """Exchange a one-time code (once, before it expires) for a new short-lived token."""
        with self.engine.begin() as conn:
            row = (
                conn.execute(sa.select(handoff_codes).where(handoff_codes.c.code_hash == _hash(code)))
                .mappings()
                .first()
            )
            if row is None:
                return None
            conn.execute(handoff_codes.delete().where(handoff_codes.c.code_hash == row["code_hash"]))
        if aware(row["expires_at"]) <= utc_now():
            return None
        days = HANDOFF_TOKEN_TTL.total_seconds() / 86400
        user = Principal.github(row["github_id"], row["login"], row["name"])
        record, secret = self.create(user, "dashboard sign-in", expires_days=days)
        return {"token": secret, "login": row["login"], "name": row["name"], "expires_at": record["expires_at"]}


# --- secrets of the embedded default and static service tokens -------------------------------------


def _read_or_create_secret(path: Path, make: Callable[[], str]) -> str:
    """Read a secret file, or create it (mode 600) exactly once even with several workers racing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(make() + "\n")
    return path.read_text().strip()


def ensure_local_token(settings: Settings) -> str:
    """The embedded default's API token (generated on first start, kept in the state directory)."""
    return _read_or_create_secret(settings.local_token_path, lambda: TOKEN_PREFIX + secrets.token_urlsafe(32))


def resolve_secret_key(settings: Settings) -> str:
    """SECRET_KEY from the environment; in the embedded default, one kept in the state directory.

    Raises:
        RuntimeError: GitHub OAuth is configured but SECRET_KEY is not (refuse to start).
    """
    if settings.secret_key:
        return settings.secret_key
    if settings.github_enabled:
        raise RuntimeError(
            "SECRET_KEY must be set when GitHub OAuth is configured (a random per-process key would log "
            "everyone out on restart and break several workers)"
        )
    return _read_or_create_secret(settings.state_dir / "secret_key", lambda: secrets.token_hex(32))


def static_tokens(settings: Settings) -> list[tuple[Principal, str]]:
    """(principal, token) of the configured service tokens, plus the local token when embedded.

    ``MLSERVICE_API_TOKENS`` entries are ``name=token`` (split at the first ``=``: a token may hold
    ``=``) or a bare token, named ``service``.

    Raises:
        ValueError: a name that cannot be a principal's (letters, digits, ``_ . -``), or an empty token.
    """
    tokens = []
    for entry in filter(None, (part.strip() for part in settings.api_tokens.split(","))):
        name, separator, token = entry.partition("=")
        if not separator:
            name, token = "service", entry
        if not SERVICE_NAME_PATTERN.match(name) or not token:
            raise ValueError(f"MLSERVICE_API_TOKENS: {name[:40]!r} is not name=token (name: letters, digits, _ . -)")
        tokens.append((Principal.service(name), token))
    if not settings.github_enabled:
        tokens.append((Principal.local(), ensure_local_token(settings)))
    return tokens
