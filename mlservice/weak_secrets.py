"""The start-up check that refuses placeholder and weak secrets, before a server accepts any request.

A secret copied from an example file (``SECRET_KEY=change-me`` in a committed manifest, MinIO's
``minioadmin``) is public: with it anyone forges a session cookie as any user, or reads the stores.
``refuse_weak_secrets`` is called by the REST app factory and the gRPC entry point; it only judges
values that were configured. The embedded default (no GitHub, loopback host) configures none of
them: its secret key and local token are generated in the state directory, so nothing changes there.
"""

from __future__ import annotations

import sqlalchemy as sa

from mlservice.settings import Settings

MIN_SECRET_KEY_CHARS = 32
MIN_TOKEN_CHARS = 24
PLACEHOLDERS = frozenset({"change-me", "changeme", "change_me", "changeit", "secret", "password", "minioadmin"})
PLACEHOLDER_PREFIXES = ("change-me", "changeme", "change_me", "replace-me", "your-")
GENERATE = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"


class WeakSecret(RuntimeError):
    """A configured secret is a known placeholder or too weak: the process refuses to start."""


def is_placeholder(value: str) -> bool:
    """Whether a secret is one of the well-known example values (``change-me``, ``minioadmin``, ...)."""
    text = value.strip().lower()
    return text in PLACEHOLDERS or text.startswith(PLACEHOLDER_PREFIXES)


def _key_problem(name: str, value: str | None, minimum: int) -> str | None:
    if value is None or value == "":
        return None
    if is_placeholder(value):
        return f"{name} is a placeholder from an example file (anyone can read it); {GENERATE}"
    if len(value) < minimum:
        return f"{name} has {len(value)} characters; at least {minimum} are needed; {GENERATE}"
    return None


def _database_password_problem(name: str, url: str | None) -> str | None:
    if not url:
        return None
    try:
        password = sa.engine.make_url(url).password
    except sa.exc.ArgumentError:
        return None
    if password and is_placeholder(str(password)):
        return f"the password in {name} is a placeholder from an example file; set a random one"
    return None


def _static_token_problems(settings: Settings) -> list[str]:
    problems = []
    for entry in filter(None, (part.strip() for part in settings.api_tokens.split(","))):
        name, separator, token = entry.partition("=")
        if not separator:
            name, token = "service", entry
        if is_placeholder(token) or len(token) < MIN_TOKEN_CHARS:
            problems.append(
                f"MLSERVICE_API_TOKENS: the token of '{name[:40]}' is a placeholder or shorter than "
                f"{MIN_TOKEN_CHARS} characters; {GENERATE}"
            )
    return problems


def secret_problems(settings: Settings) -> list[str]:
    """What is wrong with the configured secrets (empty when nothing is)."""
    problems = [
        _key_problem("SECRET_KEY", settings.secret_key, MIN_SECRET_KEY_CHARS),
        _key_problem("GRPC_AUTH_TOKEN", settings.grpc_auth_token, MIN_TOKEN_CHARS),
        _database_password_problem("MLSERVICE_DATABASE_URL", settings.database_url),
    ]
    if settings.github_client_secret and is_placeholder(settings.github_client_secret):
        problems.append("GITHUB_CLIENT_SECRET is a placeholder; use your GitHub OAuth app's client secret")
    for name, value in (("AWS_ACCESS_KEY_ID", settings.s3_access_key_id),
                        ("AWS_SECRET_ACCESS_KEY", settings.s3_secret_access_key)):  # fmt: skip
        if value and is_placeholder(value):
            problems.append(f"{name} is a placeholder ('minioadmin' / 'change-me'); set the store's real credentials")
    problems.extend(_static_token_problems(settings))
    if settings.github_enabled and not (
        settings.github_allowed_users.strip() or settings.github_allowed_orgs.strip() or settings.github_allow_any_user
    ):
        problems.append(
            "GitHub sign-in is configured with empty allow-lists, so every GitHub user could sign in: set "
            "GITHUB_ALLOWED_USERS and/or GITHUB_ALLOWED_ORGS, or GITHUB_ALLOW_ANY_USER=true if that is intended"
        )
    return [problem for problem in problems if problem]


def refuse_weak_secrets(settings: Settings) -> None:
    """Raise ``WeakSecret`` naming every placeholder or weak secret configured (never their values).

    Raises:
        WeakSecret: at least one configured secret is a placeholder or too short, or GitHub mode
            admits any GitHub user without ``GITHUB_ALLOW_ANY_USER=true``.
    """
    problems = secret_problems(settings)
    if problems:
        raise WeakSecret("Refusing to start: " + " | ".join(problems))
