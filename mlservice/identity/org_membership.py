"""Organisation membership of GitHub users, re-checked with GitHub after sign-in (``GITHUB_ALLOWED_ORGS``).

At sign-in the user's GitHub OAuth access token is kept server-side, encrypted (Fernet, with a key
derived from ``SECRET_KEY``). At most every ``MLSERVICE_ALLOWLIST_RECHECK_SECONDS`` a request of that
user asks GitHub again for their organisations. If GitHub says they left every allowed organisation,
or the OAuth token was revoked, they are refused and their sessions and tokens are revoked. If
GitHub cannot be reached, the last answer holds until ``MLSERVICE_ALLOWLIST_GRACE_SECONDS`` after the
last successful check; then the user is refused (nothing revoked) until GitHub answers again.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from urllib.parse import urljoin

import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mlservice.database import aware, utc_now
from mlservice.identity.principal import Principal
from mlservice.identity.tables import github_accounts
from mlservice.settings import Settings

logger = logging.getLogger(__name__)

GITHUB_TIMEOUT_SECONDS = 5.0


class GitHubUnreachable(Exception):
    """GitHub did not answer (network, 5xx, rate limit): keep the last answer for a while."""


class GitHubTokenRevoked(Exception):
    """GitHub refused the stored OAuth token (the user revoked the app, or GitHub expired it)."""


def fetch_orgs(api_base: str, access_token: str) -> set[str]:
    """The organisations (lower-case logins) of the user an OAuth token belongs to.

    Raises:
        GitHubTokenRevoked: GitHub answered 401. GitHubUnreachable: anything else but a list.
    """
    try:
        response = requests.get(
            urljoin(api_base, "user/orgs?per_page=100"),
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/vnd.github+json"},
            timeout=GITHUB_TIMEOUT_SECONDS,
        )
    except requests.RequestException as exc:
        raise GitHubUnreachable(type(exc).__name__) from exc
    if response.status_code == 401:
        raise GitHubTokenRevoked()
    try:
        orgs = response.json() if response.ok else None
    except ValueError:
        orgs = None
    if not isinstance(orgs, list):
        raise GitHubUnreachable(f"HTTP {response.status_code}")
    return {str(org.get("login", "")).lower() for org in orgs if isinstance(org, dict)}


def token_cipher(secret_key: str) -> Fernet:
    """Fernet with a key derived (HKDF-SHA256) from SECRET_KEY, used only for stored GitHub OAuth tokens."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"mlservice github oauth token")
    return Fernet(base64.urlsafe_b64encode(derived.derive(secret_key.encode())))


class OrgMembership:
    """Remembers each signed-in user's OAuth token and membership; answers "still a member?" per request."""

    def __init__(  # pylint: disable=too-many-arguments
        self,
        engine: sa.Engine,
        settings: Settings,
        secret_key: str,
        allowed_orgs: set[str],
        revoke: Callable[[str], object],
        fetch: Callable[[str, str], set[str]] = fetch_orgs,
    ):
        self.engine, self.allowed_orgs, self.revoke, self.fetch = engine, allowed_orgs, revoke, fetch
        self.api_base = settings.github_api_base
        self.recheck_seconds = settings.allowlist_recheck_seconds
        self.grace_seconds = settings.allowlist_grace_seconds
        self.cipher = token_cipher(secret_key)

    def remember(self, principal: Principal, access_token: str, orgs: set[str]) -> bool:
        """At sign-in: keep the user's OAuth token (encrypted) and whether orgs meet the allow-list."""
        member = bool(orgs & self.allowed_orgs)
        values = {"login": principal.login, "access_token": self.cipher.encrypt(access_token.encode()).decode(),
                  "member": member, "checked_at": utc_now()}  # fmt: skip
        with self.engine.begin() as conn:
            updated = conn.execute(
                github_accounts.update().where(github_accounts.c.principal == principal.id).values(**values)
            ).rowcount
            if not updated:
                conn.execute(github_accounts.insert().values(principal=principal.id, **values))
        return member

    def still_member(self, principal: Principal) -> bool:
        """Whether the user is (still) in an allowed organisation, asking GitHub when the last answer is old."""
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(github_accounts).where(github_accounts.c.principal == principal.id))
                .mappings()
                .first()
            )
        if row is None or not row["access_token"]:
            return False  # no membership on record: sign in again
        age = (utc_now() - aware(row["checked_at"])).total_seconds()
        if age < self.recheck_seconds:
            return bool(row["member"])
        try:
            orgs = self.fetch(self.api_base, self.cipher.decrypt(row["access_token"].encode()).decode())
        except GitHubUnreachable as exc:
            logger.warning("GitHub unreachable re-checking %s (%s); last answer %ss old", principal.id, exc, int(age))
            return bool(row["member"]) and age < self.grace_seconds
        except (GitHubTokenRevoked, InvalidToken):  # revoked at GitHub, or SECRET_KEY changed
            orgs = set()
        member = bool(orgs & self.allowed_orgs)
        self._record(principal, member)
        return member

    def _record(self, principal: Principal, member: bool) -> None:
        values: dict = {"member": member, "checked_at": utc_now()}
        if not member:
            values["access_token"] = None
        with self.engine.begin() as conn:
            conn.execute(github_accounts.update().where(github_accounts.c.principal == principal.id).values(**values))
        if not member:
            logger.info("%s is no longer in an allowed organisation: sessions and tokens revoked", principal.id)
            self.revoke(principal.id)
