"""From a bearer token to a ``Principal``, for every front end; and who may sign in with GitHub.

Knows nothing of HTTP or gRPC: each adapter passes the ``Authorization`` value it received.
"""

from __future__ import annotations

import hmac

from mlservice.identity.principal import Principal
from mlservice.identity.tokens import TokenStore, static_tokens
from mlservice.settings import Settings


def csv_set(text: str) -> set[str]:
    """A comma-separated setting as a set of lower-case entries."""
    return {part.strip().lower() for part in text.split(",") if part.strip()}


class Authenticator:
    """Tokens (static service tokens, the local token, personal tokens) to principals; the GitHub allow-lists."""

    def __init__(self, settings: Settings, store: TokenStore):
        self.settings = settings
        self.store = store
        self.static = static_tokens(settings)
        self.allowed_users = csv_set(settings.github_allowed_users)
        self.allowed_orgs = csv_set(settings.github_allowed_orgs)

    def from_bearer(self, header: str) -> Principal | None:
        """The principal of an ``Authorization: Bearer <token>`` value, if the token is valid."""
        scheme, _, token = (header or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        for principal, expected in self.static:  # constant-time comparison with every static token
            if hmac.compare_digest(token.encode(), expected.encode()):
                return principal
        return self.store.verify(token)

    def user_allowed(self, login: str, orgs: set[str]) -> bool:
        """Whether the allow-lists (if any) admit this GitHub user."""
        if not self.allowed_users and not self.allowed_orgs:
            return True
        return login.lower() in self.allowed_users or bool(orgs & self.allowed_orgs)
