"""From a bearer token or a session id to a ``Principal``, for every front end; and who may use GitHub sign-in.

Knows nothing of HTTP or gRPC: each adapter passes the ``Authorization`` value (or the session id)
it received. GitHub principals are checked against the allow-lists on every request, not only at
sign-in: each answer is trusted for ``MLSERVICE_ALLOWLIST_CACHE_SECONDS`` per principal, and
membership of an allowed organisation is re-checked with GitHub (``org_membership``).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from mlservice.identity.org_membership import OrgMembership, fetch_orgs
from mlservice.identity.principal import GITHUB, Principal
from mlservice.identity.tokens import TokenStore, resolve_secret_key, static_tokens
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


class AllowList:
    """``GITHUB_ALLOWED_USERS`` (logins, or ids as ``github:<id>``) and ``GITHUB_ALLOWED_ORGS``, per request."""

    def __init__(
        self, settings: Settings, membership: OrgMembership | None, clock: Callable[[], float] = time.monotonic
    ):
        users = csv_set(settings.github_allowed_users)
        self.ids = {entry for entry in users if entry.startswith(f"{GITHUB}:")}
        self.logins = users - self.ids
        self.orgs = csv_set(settings.github_allowed_orgs)
        self.membership = membership
        self.cache_seconds = settings.allowlist_cache_seconds
        self.clock = clock
        self._answers: dict[str, tuple[bool, float]] = {}
        self._lock = threading.Lock()

    @property
    def restricted(self) -> bool:
        """Whether any allow-list is set (otherwise every GitHub user is admitted)."""
        return bool(self.ids or self.logins or self.orgs)

    def listed(self, principal_id: str, login: str) -> bool:
        """Named in GITHUB_ALLOWED_USERS, by id or by login."""
        return principal_id.lower() in self.ids or (login or "").lower() in self.logins

    def admits(self, principal: Principal) -> bool:
        """Whether this caller may (still) use the service; non-GitHub principals are not subject to the lists."""
        if principal.kind != GITHUB or not self.restricted:
            return True
        now = self.clock()
        with self._lock:
            cached = self._answers.get(principal.id)
        if cached is not None and cached[1] > now:
            return cached[0]
        answer = self.listed(principal.id, principal.login) or (
            bool(self.orgs) and self.membership is not None and self.membership.still_member(principal)
        )
        with self._lock:
            self._answers[principal.id] = (answer, now + self.cache_seconds)
        return answer


class Authenticator:
    """Tokens (static service tokens, the local token, personal tokens) and sessions to principals; the allow-lists."""

    def __init__(self, settings: Settings, store: TokenStore, fetch: Callable[[str, str], set[str]] = fetch_orgs):
        self.settings = settings
        self.store = store
        self.static = static_tokens(settings)
        membership = None
        if settings.github_enabled and csv_set(settings.github_allowed_orgs):
            membership = OrgMembership(
                store.engine, settings, resolve_secret_key(settings), csv_set(settings.github_allowed_orgs),
                store.revoke_all, fetch,
            )  # fmt: skip
        self.membership = membership
        self.allow_list = AllowList(settings, membership)
        self.verified = VerifiedTokens(store.verify, settings.token_cache_seconds)

    @property
    def allowed_orgs(self) -> set[str]:
        """GITHUB_ALLOWED_ORGS (sign-in then asks GitHub for the user's organisations)."""
        return self.allow_list.orgs

    def from_bearer(self, header: str) -> Principal | None:
        """The principal of an ``Authorization: Bearer <token>`` value, if the token is valid and its user allowed."""
        scheme, _, token = (header or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        for principal, expected in self.static:  # constant-time comparison with every static token
            if hmac.compare_digest(token.encode(), expected.encode()):
                return principal
        principal = self.verified.principal(token)
        return principal if principal is not None and self.allow_list.admits(principal) else None

    def from_session(self, session_id: str | None) -> Principal | None:
        """The principal of a browser session id, if the session is active and its user allowed."""
        principal = self.store.sessions.verify(session_id or "")
        return principal if principal is not None and self.allow_list.admits(principal) else None

    def user_allowed(self, principal: Principal, orgs: set[str]) -> bool:
        """At sign-in: whether the allow-lists (if any) admit this GitHub user with these organisations."""
        if not self.allow_list.restricted:
            return True
        return self.allow_list.listed(principal.id, principal.login) or bool(orgs & self.allow_list.orgs)
