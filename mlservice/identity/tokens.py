"""The identity store: personal API tokens and one-time sign-in hand-off codes (hashed), and the static secrets.

Knows nothing of HTTP: the REST and gRPC adapters (``flask_adapter``, ``grpc_adapter``) and the
``Authenticator`` use it. Tokens live in the service's own database (SQLAlchemy: PostgreSQL in
deployment, SQLite in the embedded default); only their SHA-256 hashes are stored.

Lifetimes: every token expires. A token created by a caller who authenticated with a token records
that token as its parent: it never outlives it, and it stops working as soon as any ancestor is
revoked or expired (chains are at most ``MAX_TOKEN_CHAIN`` long). Browser sessions are in ``sessions``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from mlservice.database import aware, create_engine, create_tables, iso, utc_now
from mlservice.errors import InvalidInput
from mlservice.identity.principal import SERVICE_NAME_PATTERN, Principal
from mlservice.identity.sessions import SessionStore
from mlservice.identity.tables import api_tokens, handoff_codes, metadata
from mlservice.settings import Settings

__all__ = ["TokenStore", "api_tokens", "handoff_codes", "metadata"]

HANDOFF_TTL = timedelta(minutes=2)
MAX_TOKEN_CHAIN = 4  # a session's token, a token made with it, ... at most this many links
TOKEN_PREFIX = "mls_"  # noqa: S105  # a visible prefix so leaked tokens are recognisable, not a secret


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def binding_of(nonce: str) -> str:
    """What a hand-off code is bound to: the SHA-256 (hex) of the nonce the dashboard session keeps."""
    return _hash(nonce)


class TokenStore:
    """Personal API tokens, one-time hand-off codes and browser sessions, hashed, in SQLite or PostgreSQL."""

    def __init__(self, database_url: str, token_max_days: int = 365):
        self.engine = create_engine(database_url)
        create_tables(self.engine, metadata)
        self.sessions = SessionStore(self.engine)
        # tokens stored by releases that allowed "never expires" end this long after their creation
        self.legacy_lifetime = timedelta(days=token_max_days)

    # --- tokens ------------------------------------------------------------------------------

    def create(
        self, owner: Principal, name: str, lifetime: timedelta, parent_id: str | None = None
    ) -> tuple[dict, str]:
        """A new token that acts as owner for lifetime (less if its parent ends sooner); returns (record, secret).

        Raises:
            InvalidInput: the parent token is no longer valid, or the chain of tokens would be too long.
        """
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = utc_now()
        expires_at = now + lifetime
        if parent_id is not None:
            with self.engine.connect() as conn:
                chain = self._chain(conn, parent_id)
            if not self._chain_valid(chain, now):
                raise InvalidInput("The token you are using is no longer valid; sign in again")
            if len(chain) >= MAX_TOKEN_CHAIN:
                raise InvalidInput(
                    f"A token made with a token made with a token... may be at most {MAX_TOKEN_CHAIN} deep; "
                    "create this one while signed in"
                )
            expires_at = min(expires_at, self._expiry(chain[0]))
        record = {
            "id": uuid.uuid4().hex, "owner": owner.id, "owner_login": owner.login, "name": name,
            "token_hash": _hash(secret), "created_at": now, "expires_at": expires_at, "revoked_at": None,
            "parent_id": parent_id,
        }  # fmt: skip
        with self.engine.begin() as conn:
            conn.execute(api_tokens.insert().values(**record))
        return self._public(record), secret

    def _public(self, row) -> dict:
        row = dict(row)
        return {
            "id": row["id"],
            "name": row["name"],
            "owner": row["owner"],
            "created_at": iso(row["created_at"]),
            "expires_at": iso(self._expiry(row)),
            "revoked": row["revoked_at"] is not None,
        }

    def _expiry(self, row) -> datetime:
        return aware(row["expires_at"]) or aware(row["created_at"]) + self.legacy_lifetime

    @staticmethod
    def _chain(conn, token_id: str) -> list:
        """The token and its ancestors (nearest first), at most MAX_TOKEN_CHAIN + 1 of them."""
        chain = []
        next_id: str | None = token_id
        while next_id is not None and len(chain) <= MAX_TOKEN_CHAIN:
            row = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == next_id)).mappings().first()
            if row is None:
                return []
            chain.append(row)
            next_id = row["parent_id"]
        return chain

    def _chain_valid(self, chain: list, now: datetime) -> bool:
        """Every link known, unrevoked and unexpired, and the chain not longer than allowed."""
        if not chain or len(chain) > MAX_TOKEN_CHAIN:
            return False
        return all(row["revoked_at"] is None and self._expiry(row) > now for row in chain)

    def list(self, owner: Principal) -> list[dict]:
        """The owner's tokens, newest first (never the secrets)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(api_tokens).where(api_tokens.c.owner == owner.id).order_by(api_tokens.c.created_at.desc())
            ).mappings()
            return [self._public(row) for row in rows]

    def revoke(self, owner: Principal, token_id: str) -> bool:
        """Revoke one of owner's tokens and every token made with it; False when there is no such token of theirs."""
        with self.engine.begin() as conn:
            result = conn.execute(
                api_tokens.update()
                .where(api_tokens.c.id == token_id, api_tokens.c.owner == owner.id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=utc_now())
            )
            if result.rowcount != 1:
                return False
            parents = [token_id]
            for _ in range(MAX_TOKEN_CHAIN):  # descendants too, so listings say what verification does
                children = (
                    conn.execute(
                        sa.select(api_tokens.c.id).where(
                            api_tokens.c.parent_id.in_(parents), api_tokens.c.revoked_at.is_(None)
                        )
                    )
                    .scalars()
                    .all()
                )
                if not children:
                    break
                conn.execute(api_tokens.update().where(api_tokens.c.id.in_(children)).values(revoked_at=utc_now()))
                parents = children
        return True

    def revoke_all(self, principal_id: str) -> int:
        """Revoke every token and session of a principal (no longer allowed); how many tokens were active."""
        with self.engine.begin() as conn:
            result = conn.execute(
                api_tokens.update()
                .where(api_tokens.c.owner == principal_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=utc_now())
            )
        self.sessions.revoke_all(principal_id)
        return result.rowcount

    def verify(self, secret: str) -> Principal | None:
        """The principal of a valid personal token: known, unexpired, unrevoked, and so is every ancestor."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(api_tokens).where(api_tokens.c.token_hash == _hash(secret))).mappings().first()
            if row is None:
                return None
            ancestors = self._chain(conn, row["parent_id"]) if row["parent_id"] else []
        if row["parent_id"] and not ancestors:  # its parent is gone
            return None
        if not self._chain_valid([row, *ancestors], utc_now()):
            return None
        return Principal.from_id(row["owner"], row["owner_login"], via="token", token_id=row["id"])

    # --- dashboard sign-in hand-off ----------------------------------------------------------

    def create_handoff(self, user: dict, binding: str) -> str:
        """A one-time code for the dashboard session whose nonce hashes to binding, to exchange for a token for user."""
        code = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                handoff_codes.insert().values(
                    code_hash=_hash(code),
                    login=user["login"],
                    name=user.get("name") or "",
                    github_id=user.get("id"),
                    expires_at=utc_now() + HANDOFF_TTL,
                    binding=binding,
                )
            )
        return code

    def redeem_handoff(self, code: str, nonce: str, lifetime: timedelta) -> dict | None:
        """Exchange a one-time code for a new token valid for lifetime: once, before it expires, and only with
        the nonce of the dashboard session that started the sign-in (a wrong nonce does not use the code up).

        The code is deleted by one ``DELETE ... WHERE code_hash = ?``: of any number of concurrent
        redemptions, only the one whose delete removed the row gets a token.
        """
        code_hash = _hash(code)
        with self.engine.begin() as conn:
            row = (
                conn.execute(sa.select(handoff_codes).where(handoff_codes.c.code_hash == code_hash)).mappings().first()
            )
            if row is None or not row["binding"] or not hmac.compare_digest(row["binding"], binding_of(nonce)):
                return None
            deleted = conn.execute(handoff_codes.delete().where(handoff_codes.c.code_hash == code_hash)).rowcount
        if deleted != 1 or aware(row["expires_at"]) <= utc_now():
            return None
        user = Principal.github(row["github_id"], row["login"], row["name"])
        record, secret = self.create(user, "dashboard sign-in", lifetime)
        return {"token": secret, "id": record["id"], "login": row["login"], "name": row["name"],
                "expires_at": record["expires_at"]}  # fmt: skip


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
