"""From a bearer token to a ``Principal``, for every front end; and who may sign in with GitHub.

Knows nothing of HTTP or gRPC: each adapter passes the ``Authorization`` value it received.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict

from mlservice.identity.principal import Principal
from mlservice.identity.tokens import TokenStore, static_tokens
from mlservice.settings import Settings


def csv_set(text: str) -> set[str]:
    """A comma-separated setting as a set of lower-case entries."""
    return {part.strip().lower() for part in text.split(",") if part.strip()}


class VerifiedTokens:
    """Personal tokens this process verified, trusted for ``ttl`` seconds: a prediction does not query the
    database each time. A token revoked (or expired) elsewhere is refused here at most ``ttl`` seconds
    later; ``forget`` drops every entry at once (this process revoked one). Unknown tokens are not kept."""

    MAX_ENTRIES = 4096

    def __init__(self, verify, ttl: float, clock=time.monotonic):
        self._verify = verify
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()
        self._lock = threading.Lock()

    def principal(self, token: str) -> Principal | None:
        """The token's principal: from this cache while it is fresh, else from the store."""
        if self.ttl <= 0:
            return self._verify(token)
        key = hashlib.sha256(token.encode()).digest()  # never the secret itself as a key
        now = self._clock()
        with self._lock:
            cached = self._entries.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        principal = self._verify(token)
        with self._lock:
            if principal is None:
                self._entries.pop(key, None)
            else:
                self._entries[key] = (now + self.ttl, principal)
                self._entries.move_to_end(key)
                while len(self._entries) > self.MAX_ENTRIES:
                    self._entries.popitem(last=False)
        return principal

    def forget(self) -> None:
        """Trust nothing cached (a token was revoked through this process)."""
        with self._lock:
            self._entries.clear()


class Authenticator:
    """Tokens (static service tokens, the local token, personal tokens) to principals; the GitHub allow-lists."""

    def __init__(self, settings: Settings, store: TokenStore):
        self.settings = settings
        self.store = store
        self.static = static_tokens(settings)
        self.allowed_users = csv_set(settings.github_allowed_users)
        self.allowed_orgs = csv_set(settings.github_allowed_orgs)
        self.verified = VerifiedTokens(store.verify, settings.token_cache_seconds)

    def from_bearer(self, header: str) -> Principal | None:
        """The principal of an ``Authorization: Bearer <token>`` value, if the token is valid."""
        scheme, _, token = (header or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        for principal, expected in self.static:  # constant-time comparison with every static token
            if hmac.compare_digest(token.encode(), expected.encode()):
                return principal
        return self.verified.principal(token)

    def user_allowed(self, login: str, orgs: set[str]) -> bool:
        """Whether the allow-lists (if any) admit this GitHub user."""
        if not self.allowed_users and not self.allowed_orgs:
            return True
        return login.lower() in self.allowed_users or bool(orgs & self.allowed_orgs)
