"""What a resource needs of the request it serves: the core facade and the caller."""

from __future__ import annotations

from flask import current_app, g

from mlservice.identity.principal import Principal


def core():
    """The core facade this app serves (``models.ModelService``, or a stand-in in tests)."""
    return current_app.extensions["mlservice"]


def caller() -> Principal | None:
    """Who is calling, as authentication established it (None on public paths)."""
    return g.get("principal")
