"""Per-model grants: which principal has which permission on which model, in the service database.

Knows no HTTP. A grant overrides the default permission for that principal and model (it may also
lower it: ``NO_PERMISSIONS`` hides a model from one principal in an otherwise readable workspace).
Lookups are cached per process for a short time, as the registry's view of models is.
"""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from mlservice.database import create_engine, create_tables, iso, utc_now
from mlservice.identity.permissions import Permission

metadata = sa.MetaData()
model_grants = sa.Table(
    "model_grants",
    metadata,
    sa.Column("model_id", sa.String(100), primary_key=True),
    sa.Column("principal", sa.String(120), primary_key=True, index=True),
    sa.Column("permission", sa.String(20), nullable=False),
    sa.Column("granted_by", sa.String(120), nullable=True),
    sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
)


class GrantStore:
    """The grants table, with a per-principal cache of ``ttl_seconds``."""

    def __init__(self, database_url: str, ttl_seconds: float = 2.0):
        self.engine = create_engine(database_url)
        create_tables(self.engine, metadata)
        self.ttl = ttl_seconds
        self._cache: dict[str, tuple[float, dict[str, Permission]]] = {}
        self._lock = threading.Lock()

    def of_principal(self, principal: str) -> dict[str, Permission]:
        """Every model id this principal has a grant on, with the permission (cached briefly)."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(principal)
        if cached and now - cached[0] < self.ttl:
            return cached[1]
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(model_grants.c.model_id, model_grants.c.permission).where(
                    model_grants.c.principal == principal
                )
            ).all()
        grants = {model_id: Permission[permission] for model_id, permission in rows}
        with self._lock:
            self._cache[principal] = (now, grants)
        return grants

    def get(self, model_id: str, principal: str) -> Permission | None:
        """The principal's grant on one model, if any."""
        return self.of_principal(principal).get(model_id)

    def of_model(self, model_id: str) -> list[dict]:
        """Every grant on one model."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(model_grants).where(model_grants.c.model_id == model_id).order_by(model_grants.c.principal)
            ).mappings()
            return [self._public(row) for row in rows]

    @staticmethod
    def _public(row) -> dict:
        return {
            "model_id": row["model_id"],
            "principal": row["principal"],
            "permission": row["permission"],
            "granted_by": row["granted_by"],
            "granted_at": iso(row["granted_at"]),
        }

    def set(self, model_id: str, principal: str, permission: Permission, granted_by: str | None) -> dict:
        """Grant (or change the grant of) a principal on a model."""
        values = {"permission": permission.name, "granted_by": granted_by, "granted_at": utc_now()}
        with self.engine.begin() as conn:
            updated = conn.execute(
                model_grants.update()
                .where(model_grants.c.model_id == model_id, model_grants.c.principal == principal)
                .values(**values)
            )
            if updated.rowcount == 0:
                conn.execute(model_grants.insert().values(model_id=model_id, principal=principal, **values))
        self._forget(principal)
        return {"model_id": model_id, "principal": principal, **values, "granted_at": iso(values["granted_at"])}

    def delete(self, model_id: str, principal: str) -> bool:
        """Remove one grant; False when there was none."""
        with self.engine.begin() as conn:
            deleted = conn.execute(
                model_grants.delete().where(model_grants.c.model_id == model_id, model_grants.c.principal == principal)
            )
        self._forget(principal)
        return deleted.rowcount == 1

    def delete_model(self, model_id: str) -> None:
        """Remove every grant on a deleted model (a new model of that name starts with none)."""
        with self.engine.begin() as conn:
            conn.execute(model_grants.delete().where(model_grants.c.model_id == model_id))
        with self._lock:
            self._cache.clear()

    def _forget(self, principal: str) -> None:
        with self._lock:
            self._cache.pop(principal, None)
