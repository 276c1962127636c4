"""Who is calling: a ``Principal``, the same for REST, gRPC and the dashboard."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """A caller: a GitHub user (session or personal token), a named service token, or the embedded default.

    ``login`` is what the service shows and records as the owner of what the caller creates (a
    GitHub login, a service token's name, ``local``).
    """

    login: str
    kind: str  # "github" (session), "token" (personal token), "service" (static token), "local"
    name: str = ""
    github_id: int | None = None
    token_id: str | None = None
