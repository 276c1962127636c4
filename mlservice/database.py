"""The service's own database (API tokens, training jobs): one way to build its SQLAlchemy engine."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool


def create_engine(url: str) -> sa.Engine:
    """An engine that survives database restarts (pre-ping); an in-memory SQLite one shared by threads."""
    if url in ("sqlite://", "sqlite:///:memory:"):
        return sa.create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    if url.startswith("sqlite:///"):  # the embedded default: the state folder may not exist yet
        private_file(Path(url.removeprefix("sqlite:///")))
    return sa.create_engine(url, pool_pre_ping=True)


def private_file(path: Path) -> None:
    """Create path (and its folder) readable by this user only (0600): it holds token hashes and sessions.

    A file an older release created world-readable is tightened too.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)


def create_tables(engine: sa.Engine, metadata: sa.MetaData) -> None:
    """Create the tables that are missing, and add nullable columns a newer release declares to tables an
    older one made (several workers may race to do both at start-up)."""
    try:
        metadata.create_all(engine)
    except sa.exc.SQLAlchemyError:
        metadata.create_all(engine)
    inspector = sa.inspect(engine)
    for table in metadata.sorted_tables:
        existing = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in existing or not column.nullable:
                continue
            statement = f"ALTER TABLE {table.name} ADD COLUMN {column.name} {column.type.compile(engine.dialect)}"
            try:
                with engine.begin() as conn:
                    conn.execute(sa.text(statement))
            except sa.exc.SQLAlchemyError:  # another worker added it first
                pass


def utc_now() -> datetime:
    """Now, timezone-aware UTC: the only way timestamps are stored."""
    return datetime.now(UTC)


def aware(moment: datetime | None) -> datetime | None:
    """A stored timestamp as UTC-aware (SQLite hands back naive datetimes; we always store UTC)."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def iso(moment: datetime | None) -> str | None:
    """A stored timestamp as ISO 8601 (seconds), or None."""
    moment = aware(moment)
    return moment.isoformat(timespec="seconds") if moment else None
