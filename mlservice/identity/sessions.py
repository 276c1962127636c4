"""Browser sessions kept server-side: the cookie carries only a random session id, the table says who it is.

So a session can end before its cookie does: ``/logout`` revokes it (a cookie captured before is
worthless after), and a user who loses access has every session revoked at once. Only the SHA-256
of a session id is stored. Knows nothing of HTTP: ``flask_adapter`` puts the id in the cookie.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa

from mlservice.database import aware, utc_now
from mlservice.identity.principal import Principal
from mlservice.identity.tables import sessions


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    """Server-side sessions of GitHub users (``github:<id>``): create, verify, revoke one or all of a principal's."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def create(self, principal: Principal, lifetime: timedelta) -> str:
        """A new session for principal, valid for lifetime; returns its id (the cookie's only content)."""
        session_id = secrets.token_urlsafe(32)
        now = utc_now()
        with self.engine.begin() as conn:
            conn.execute(
                sessions.insert().values(
                    id_hash=_hash(session_id), principal=principal.id, login=principal.login,
                    name=principal.name or "", created_at=now, expires_at=now + lifetime, revoked_at=None,
                )
            )  # fmt: skip
        return session_id

    def verify(self, session_id: str) -> Principal | None:
        """The principal of a known, unexpired, unrevoked session."""
        if not session_id or not isinstance(session_id, str):
            return None
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(sessions).where(sessions.c.id_hash == _hash(session_id))).mappings().first()
        if row is None or row["revoked_at"] is not None or aware(row["expires_at"]) <= utc_now():
            return None
        github_id = row["principal"].partition(":")[2]
        return Principal.github(int(github_id), row["login"], row["name"]) if github_id.isdigit() else None

    def revoke(self, session_id: str) -> bool:
        """End one session (sign-out); False when it was not active."""
        with self.engine.begin() as conn:
            result = conn.execute(
                sessions.update()
                .where(sessions.c.id_hash == _hash(session_id), sessions.c.revoked_at.is_(None))
                .values(revoked_at=utc_now())
            )
        return result.rowcount == 1

    def revoke_all(self, principal_id: str) -> int:
        """End every session of a principal; how many were active."""
        with self.engine.begin() as conn:
            result = conn.execute(
                sessions.update()
                .where(sessions.c.principal == principal_id, sessions.c.revoked_at.is_(None))
                .values(revoked_at=utc_now())
            )
        return result.rowcount
