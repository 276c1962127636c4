"""Authentication of the REST API: GitHub OAuth sign-in, API tokens, and the dashboard hand-off.

- Browsers sign in with GitHub (authlib's Flask client; ``/login`` -> GitHub -> ``/authorize``),
  optionally restricted to ``GITHUB_ALLOWED_USERS`` / ``GITHUB_ALLOWED_ORGS``.
- Scripts send ``Authorization: Bearer <token>``: a personal token (created by a signed-in user,
  stored only as a SHA-256 hash in the service's own database), a static service token from
  ``MLSERVICE_API_TOKENS``, or, in the embedded default (no GitHub app configured), the local token
  generated once into the state directory.
- The dashboard signs users in through ``/login?next=<dashboard>``: the API redirects back with a
  one-time code that the dashboard exchanges at ``POST /auth/handoff`` for a short-lived token.

Everything but health, the API docs and the sign-in endpoints needs one of these.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode, urlparse

import sqlalchemy as sa
from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, g, jsonify, redirect, request, session, url_for
from flask_restx import Api, Namespace, Resource, fields
from werkzeug.middleware.proxy_fix import ProxyFix

from mlservice.database import aware, create_engine, create_tables, iso, utc_now
from mlservice.rest.fields import NullableString
from mlservice.settings import Settings

logger = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset({"/health", "/", "/swagger.json", "/login", "/authorize", "/logout", "/auth/handoff"})
PUBLIC_PREFIXES = ("/swaggerui/",)
HANDOFF_TTL = timedelta(minutes=2)
HANDOFF_TOKEN_TTL = timedelta(hours=12)
TOKEN_PREFIX = "mls_"  # noqa: S105  # a visible prefix so leaked tokens are recognisable, not a secret


@dataclass(frozen=True)
class Principal:
    """Who is calling: a GitHub user (session or personal token) or a named service token."""

    login: str
    kind: str  # "github", "token", "service", "local"
    name: str = ""
    github_id: int | None = None
    token_id: str | None = None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# --- the service's own database: API tokens and hand-off codes -------------------------------------

metadata = sa.MetaData()
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(100), nullable=False, index=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)
handoff_codes = sa.Table(
    "handoff_codes",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("login", sa.String(100), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("github_id", sa.BigInteger, nullable=True),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)


class TokenStore:
    """Personal API tokens and one-time hand-off codes, hashed, in SQLAlchemy (SQLite or PostgreSQL)."""

    def __init__(self, database_url: str):
        self.engine = create_engine(database_url)
        create_tables(self.engine, metadata)

    def create(self, owner: str, name: str, expires_days: int | None) -> tuple[dict, str]:
        """A new token for owner; returns (its record, the secret shown once)."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = utc_now()
        record = {
            "id": uuid.uuid4().hex,
            "owner": owner,
            "name": name,
            "token_hash": _hash(secret),
            "created_at": now,
            "expires_at": now + timedelta(days=expires_days) if expires_days else None,
            "revoked_at": None,
        }
        with self.engine.begin() as conn:
            conn.execute(api_tokens.insert().values(**record))
        return self._public(record), secret

    @staticmethod
    def _public(row) -> dict:
        row = dict(row)
        return {
            "id": row["id"],
            "name": row["name"],
            "owner": row["owner"],
            "created_at": iso(row["created_at"]),
            "expires_at": iso(row["expires_at"]),
            "revoked": row["revoked_at"] is not None,
        }

    def list(self, owner: str) -> list[dict]:
        """The owner's tokens, newest first (never the secrets)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(api_tokens).where(api_tokens.c.owner == owner).order_by(api_tokens.c.created_at.desc())
            ).mappings()
            return [self._public(row) for row in rows]

    def revoke(self, owner: str, token_id: str) -> bool:
        """Revoke one of owner's tokens; False when there is no such token of theirs."""
        with self.engine.begin() as conn:
            result = conn.execute(
                api_tokens.update()
                .where(api_tokens.c.id == token_id, api_tokens.c.owner == owner, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=utc_now())
            )
            return result.rowcount == 1

    def verify(self, secret: str) -> Principal | None:
        """The principal of a valid (known, unexpired, unrevoked) personal token."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(api_tokens).where(api_tokens.c.token_hash == _hash(secret))).mappings().first()
        if row is None or row["revoked_at"] is not None:
            return None
        expires_at = aware(row["expires_at"])
        if expires_at is not None and expires_at <= utc_now():
            return None
        return Principal(login=row["owner"], kind="token", name=row["name"], token_id=row["id"])

    def create_handoff(self, user: dict) -> str:
        """A one-time code for the dashboard to exchange for a token for user."""
        code = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                handoff_codes.insert().values(
                    code_hash=_hash(code),
                    login=user["login"],
                    name=user.get("name") or "",
                    github_id=user.get("id"),
                    expires_at=utc_now() + HANDOFF_TTL,
                )
            )
        return code

    def redeem_handoff(self, code: str) -> dict | None:
        """Exchange a one-time code (once, before it expires) for a new short-lived token."""
        with self.engine.begin() as conn:
            row = (
                conn.execute(sa.select(handoff_codes).where(handoff_codes.c.code_hash == _hash(code)))
                .mappings()
                .first()
            )
            if row is None:
                return None
            conn.execute(handoff_codes.delete().where(handoff_codes.c.code_hash == row["code_hash"]))
        if aware(row["expires_at"]) <= utc_now():
            return None
        days = HANDOFF_TOKEN_TTL.total_seconds() / 86400
        record, secret = self.create(row["login"], "dashboard sign-in", expires_days=days)
        return {"token": secret, "login": row["login"], "name": row["name"], "expires_at": record["expires_at"]}


# --- secrets of the embedded default ----------------------------------------------------------------


def _read_or_create_secret(path: Path, make: callable) -> str:
    """Read a secret file, or create it (mode 600) exactly once even with several workers racing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(make() + "\n")
    return path.read_text().strip()


def ensure_local_token(settings: Settings) -> str:
    """The embedded default's API token (generated on first start, kept in the state directory)."""
    return _read_or_create_secret(settings.local_token_path, lambda: TOKEN_PREFIX + secrets.token_urlsafe(32))


def resolve_secret_key(settings: Settings) -> str:
    """SECRET_KEY from the environment; in the embedded default, one kept in the state directory.

    Raises:
        RuntimeError: GitHub OAuth is configured but SECRET_KEY is not (refuse to start).
    """
    if settings.secret_key:
        return settings.secret_key
    if settings.github_enabled:
        raise RuntimeError(
            "SECRET_KEY must be set when GitHub OAuth is configured (a random per-process key would log "
            "everyone out on restart and break several workers)"
        )
    return _read_or_create_secret(settings.state_dir / "secret_key", lambda: secrets.token_hex(32))


def static_tokens(settings: Settings) -> list[tuple[str, str, str]]:
    """(name, token, kind) of the configured service tokens, plus the local token when embedded."""
    tokens = []
    for entry in filter(None, (part.strip() for part in settings.api_tokens.split(","))):
        name, _, token = entry.rpartition("=")
        tokens.append((name or "service", token, "service"))
    if not settings.github_enabled:
        tokens.append(("local", ensure_local_token(settings), "local"))
    return tokens


def _csv(text: str) -> set[str]:
    return {part.strip().lower() for part in text.split(",") if part.strip()}


def allowed_next(settings: Settings, target: str) -> bool:
    """Whether a post-login redirect target is the dashboard (or an allow-listed host): no open redirect."""
    parsed = urlparse(target)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return False
    allowed = {urlparse(settings.dashboard_url).netloc.lower()} | _csv(settings.redirect_hosts)
    return parsed.netloc.lower() in allowed


# --- wiring into the Flask app ---------------------------------------------------------------------


def _wants_html() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return request.method == "GET" and best == "text/html"


def _message(text: str, status: int):
    return jsonify({"message": text}), status


class Authenticator:
    """Identifies the caller of each request (bearer token or session) and enforces sign-in."""

    def __init__(self, settings: Settings, store: TokenStore):
        self.settings = settings
        self.store = store
        self.static = static_tokens(settings)
        self.allowed_users = _csv(settings.github_allowed_users)
        self.allowed_orgs = _csv(settings.github_allowed_orgs)

    def from_bearer(self, header: str) -> Principal | None:
        """The principal of an ``Authorization: Bearer`` header, if the token is valid."""
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        for name, expected, kind in self.static:  # constant-time comparison with every static token
            if hmac.compare_digest(token.encode(), expected.encode()):
                return Principal(login=name, kind=kind, name=name)
        return self.store.verify(token)

    def current(self) -> Principal | None:
        """The caller of this request, if authenticated."""
        header = request.headers.get("Authorization", "")
        if header:
            return self.from_bearer(header)
        user = session.get("user")
        if user:
            return Principal(login=user["login"], kind="github", name=user.get("name") or "", github_id=user.get("id"))
        return None

    def guard(self):
        """before_request: let public paths through; otherwise require a principal (401 / redirect)."""
        if request.path in PUBLIC_PATHS or request.path.startswith(PUBLIC_PREFIXES) or request.method == "OPTIONS":
            return None
        principal = self.current()
        if principal is None:
            if _wants_html() and not request.headers.get("Authorization"):
                return redirect(url_for("login"))
            return _message("Authentication required: sign in at /login or send 'Authorization: Bearer <token>'", 401)
        g.principal = principal
        g.owner = principal.login
        return None

    def user_allowed(self, login: str, orgs: set[str]) -> bool:
        """Whether the allow-lists (if any) admit this GitHub user."""
        if not self.allowed_users and not self.allowed_orgs:
            return True
        return login.lower() in self.allowed_users or bool(orgs & self.allowed_orgs)


def init_auth(app: Flask, api: Api, settings: Settings, store: TokenStore | None = None) -> Authenticator:  # pylint: disable=too-many-statements
    """Configure sessions, GitHub OAuth, the request guard and the auth endpoints on app/api."""
    app.secret_key = resolve_secret_key(settings)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.preferred_url_scheme == "https",
        PREFERRED_URL_SCHEME=settings.preferred_url_scheme,
    )
    if settings.trust_proxy:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1)
    store = store or TokenStore(settings.service_database_url)
    authenticator = Authenticator(settings, store)
    app.extensions["mlservice_auth"] = authenticator
    app.before_request(authenticator.guard)

    oauth = OAuth(app)
    github = None
    if settings.github_enabled:
        github = oauth.register(
            "github",
            client_id=settings.github_client_id,
            client_secret=settings.github_client_secret,
            authorize_url=settings.github_authorize_url,
            access_token_url=settings.github_token_url,
            api_base_url=settings.github_api_base,
            client_kwargs={"scope": "read:user read:org" if authenticator.allowed_orgs else "read:user"},
        )

    @app.get("/login")
    def login():
        """Start GitHub sign-in; ?next= may send the browser back to the dashboard afterwards."""
        if github is None:
            return _message(
                "GitHub sign-in is not configured on this server. Set GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET and "
                "SECRET_KEY (a GitHub OAuth app whose callback URL is this server's /authorize). Until then use "
                "the local API token that 'make run' printed (stored in the state directory as local_api_token).",
                501,
            )
        target = request.args.get("next")
        if target:
            if not allowed_next(settings, target):
                return _message("next must point to the dashboard (DASHBOARD_URL) or an allowed host", 400)
            session["next"] = target
        else:
            session.pop("next", None)
        return github.authorize_redirect(url_for("authorize", _external=True))

    @app.get("/authorize")
    def authorize():
        """GitHub's callback: check state, fetch the user, apply the allow-lists, start the session."""
        if github is None:
            return _message("GitHub sign-in is not configured on this server", 501)
        try:
            token = github.authorize_access_token()
        except MismatchingStateError:
            return _message("Sign-in state did not match (a forged or replayed callback); start again at /login", 400)
        except OAuthError:
            return _message("GitHub refused the sign-in (invalid or expired code); start again at /login", 401)
        user = github.get("user", token=token).json()
        orgs: set[str] = set()
        if authenticator.allowed_orgs:
            orgs = {org["login"].lower() for org in github.get("user/orgs", token=token).json()}
        if not authenticator.user_allowed(user["login"], orgs):
            session.clear()
            return _message(f"GitHub user {user['login']} is not allowed to use this service", 403)
        session.pop("user", None)
        session["user"] = {"login": user["login"], "id": user.get("id"), "name": user.get("name") or ""}
        target = session.pop("next", None)
        if target and allowed_next(settings, target):
            code = store.create_handoff(session["user"])
            separator = "&" if urlparse(target).query else "?"
            return redirect(f"{target}{separator}{urlencode({'handoff': code})}")
        return redirect(url_for("doc") if "doc" in app.view_functions else "/")

    @app.get("/logout")
    def logout():
        """End the browser session."""
        session.clear()
        if _wants_html():
            return redirect("/")
        return _message("Signed out", 200)

    _register_token_resources(api, store, settings)
    return authenticator


def _register_token_resources(api: Api, store: TokenStore, settings: Settings) -> None:
    # pylint: disable=unused-variable  # Flask-RESTX registers each Resource class by decorator
    namespace = Namespace("auth", path="/", description="Who am I, API tokens, dashboard hand-off")
    error = api.model("AuthError", {"message": fields.String})
    token_request = api.model(
        "TokenRequest",
        {
            "name": fields.String(required=True, min_length=1, max_length=100, example="ci"),
            "expires_in_days": fields.Integer(min=1, max=settings.token_max_days, description="Default: never"),
        },
    )
    token_record = api.model(
        "Token",
        {
            "id": fields.String,
            "name": fields.String,
            "owner": fields.String,
            "created_at": fields.String,
            "expires_at": NullableString(description="null: never expires"),
            "revoked": fields.Boolean,
            "token": fields.String(description="The secret; shown only in the response that creates it"),
        },
    )
    handoff_request = api.model("HandoffRequest", {"code": fields.String(required=True, min_length=1)})

    @namespace.route("/me")
    class Me(Resource):
        """The caller."""

        @namespace.response(401, "Not signed in", error)
        def get(self):
            """Who is calling: GitHub login (session or personal token) or service token name."""
            principal = g.principal
            return {"login": principal.login, "name": principal.name, "id": principal.github_id, "auth": principal.kind}

    @namespace.route("/tokens")
    class Tokens(Resource):
        """Personal API tokens."""

        @namespace.response(200, "Your tokens (never the secrets)", [token_record])
        def get(self):
            """List your API tokens."""
            return store.list(g.principal.login)

        @namespace.expect(token_request, validate=True)
        @namespace.response(201, "Created; the secret is in 'token' and is shown only now", token_record)
        def post(self):
            """Create an API token (name, optional expiry in days); the secret is shown once."""
            payload = request.get_json()
            record, secret = store.create(g.principal.login, payload["name"], payload.get("expires_in_days"))
            return {**record, "token": secret}, 201

    @namespace.route("/tokens/<string:token_id>")
    class TokenItem(Resource):
        """One API token."""

        @namespace.response(204, "Revoked")
        @namespace.response(404, "No such token of yours", error)
        def delete(self, token_id):
            """Revoke one of your API tokens."""
            if not store.revoke(g.principal.login, token_id):
                return {"message": f"No active token '{token_id}' of yours"}, 404
            return "", 204

    @namespace.route("/auth/handoff")
    class Handoff(Resource):
        """Dashboard sign-in hand-off."""

        @namespace.expect(handoff_request, validate=True)
        @namespace.response(200, "A short-lived token for the signed-in user")
        @namespace.response(400, "Unknown, used or expired code", error)
        def post(self):
            """Exchange the one-time code from /login?next=... for a short-lived API token."""
            result = store.redeem_handoff(request.get_json()["code"])
            if result is None:
                return {"message": "Unknown, already used or expired sign-in code; sign in again"}, 400
            return result

    api.add_namespace(namespace)
