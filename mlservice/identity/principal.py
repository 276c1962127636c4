"""Who is calling: a ``Principal``, the same for REST, gRPC and the dashboard.

A principal's ``id`` is what the service stores as the owner of models, datasets and jobs and what
permissions name, MLflow-style:

- ``github:<numeric id>`` — a GitHub user (browser session, dashboard sign-in or personal token);
  keyed by GitHub's immutable numeric id, never by the login, which users can rename and reuse;
- ``service:<name>`` — a static service token from ``MLSERVICE_API_TOKENS``;
- ``local`` — the embedded default's own token (``make run``);
- ``anonymous`` — an unauthenticated gRPC call where the operator allowed those on purpose.

``login`` is only what is shown (the GitHub login, the token's name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlservice.errors import InvalidInput

GITHUB, SERVICE, LOCAL, ANONYMOUS = "github", "service", "local", "anonymous"
SERVICE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
PRINCIPAL_ID_PATTERN = re.compile(r"^(github:[0-9]{1,20}|service:[A-Za-z0-9][A-Za-z0-9_.-]{0,99}|local|anonymous)$")


@dataclass(frozen=True)
class Principal:
    """A caller: its id (what owns and is granted), what to show, and how it authenticated."""

    id: str
    login: str
    kind: str  # GITHUB, SERVICE, LOCAL or ANONYMOUS
    name: str = ""  # a GitHub user's display name
    via: str = "session"  # "session" (browser), "token" (personal token), "static" (configured token)
    token_id: str | None = None  # the personal token used, when one was

    @classmethod
    def github(cls, user_id: int, login: str, name: str = "", *, token_id: str | None = None) -> Principal:
        """A GitHub user, by numeric id (the login is only shown)."""
        return cls(f"{GITHUB}:{int(user_id)}", login, GITHUB, name or "", "token" if token_id else "session", token_id)

    @classmethod
    def service(cls, name: str) -> Principal:
        """A static service token's principal."""
        return cls(f"{SERVICE}:{name}", name, SERVICE, name, "static")

    @classmethod
    def local(cls) -> Principal:
        """The embedded default's single user."""
        return cls(LOCAL, LOCAL, LOCAL, LOCAL, "static")

    @classmethod
    def anonymous(cls) -> Principal:
        """An unauthenticated caller the operator let in on purpose (MLSERVICE_GRPC_ALLOW_ANONYMOUS)."""
        return cls(ANONYMOUS, ANONYMOUS, ANONYMOUS, ANONYMOUS, "none")

    @classmethod
    def from_id(cls, principal_id: str, login: str | None = None, **how) -> Principal:
        """The principal a stored id names (the owner of a job or a token), with the login it had."""
        kind, _, rest = principal_id.partition(":")
        if kind == GITHUB and rest.isdigit():
            return cls(principal_id, login or principal_id, GITHUB, login or "", **how)
        if kind == SERVICE and rest:
            return cls(principal_id, login or rest, SERVICE, login or rest, **how)
        if principal_id in (LOCAL, ANONYMOUS):
            return cls(principal_id, principal_id, principal_id, principal_id, **how)
        return cls(principal_id, login or principal_id, kind or principal_id, login or "", **how)

    @property
    def github_id(self) -> int | None:
        """A GitHub user's numeric id."""
        return int(self.id.split(":", 1)[1]) if self.kind == GITHUB else None


def check_principal(text: object) -> str:
    """A principal id as given, or InvalidInput saying what one looks like."""
    if not isinstance(text, str) or not PRINCIPAL_ID_PATTERN.match(text):
        raise InvalidInput(
            f"{str(text)[:60]!r} is not a principal: github:<numeric id>, service:<token name>, local or anonymous"
        )
    return text
