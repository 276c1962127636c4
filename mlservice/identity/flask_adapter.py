"""The identity adapter for Flask: sessions, the request guard, and GitHub OAuth sign-in.

- Browsers sign in with GitHub (authlib's Flask client; ``/login`` -> GitHub -> ``/authorize``),
  optionally restricted to ``GITHUB_ALLOWED_USERS`` / ``GITHUB_ALLOWED_ORGS``.
- Scripts send ``Authorization: Bearer <token>``, checked by the ``Authenticator`` as gRPC's are.
- Sessions live server-side (``sessions``): the signed cookie carries only a session id, which
  ``/logout`` revokes; a session lasts ``MLSERVICE_SESSION_HOURS``.
- The dashboard signs users in through ``/login?next=<dashboard>&binding=<sha256(nonce)>``: the API
  redirects back with a one-time code, bound to that nonce, that the dashboard exchanges at
  ``POST /auth/handoff`` (with the nonce) for a short-lived token.

Everything but health (also the Open Inference Protocol's), /metrics, the API docs and the sign-in endpoints needs
one of these; the guard puts the caller in ``flask.g.principal``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlencode, urlparse

from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, g, jsonify, redirect, request, session, url_for
from werkzeug.middleware.proxy_fix import ProxyFix

from mlservice.identity.authenticator import Authenticator, csv_set
from mlservice.identity.principal import Principal
from mlservice.identity.tokens import TokenStore, resolve_secret_key
from mlservice.settings import Settings

PUBLIC_PATHS = frozenset({"/health", "/", "/swagger.json", "/login", "/authorize", "/logout", "/auth/handoff",
                          "/metrics", "/v2", "/v2/", "/v2/health/live", "/v2/health/ready"})  # fmt: skip
PUBLIC_PREFIXES = ("/swaggerui/",)
BINDING_PATTERN = re.compile(r"^[0-9a-f]{64}$")
NOT_CONFIGURED = (
    "GitHub sign-in is not configured on this server. Set GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET and SECRET_KEY "
    "(a GitHub OAuth app whose callback URL is this server's /authorize). Until then use the local API token "
    "that 'make run' printed (stored in the state directory as local_api_token)."
)


def allowed_next(settings: Settings, target: str) -> bool:
    """Whether a post-login redirect target is the dashboard (or an allow-listed host): no open redirect."""
    parsed = urlparse(target)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return False
    allowed = {urlparse(settings.dashboard_url).netloc.lower()} | csv_set(settings.redirect_hosts)
    return parsed.netloc.lower() in allowed


def _wants_html() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return request.method == "GET" and best == "text/html"


def _message(text: str, status: int):
    return jsonify({"message": text}), status


class FlaskAuth:
    """Sign-in for one Flask app: the guard before every request and the GitHub OAuth views."""

    def __init__(self, app: Flask, settings: Settings, authenticator: Authenticator):
        self.app, self.settings, self.authenticator = app, settings, authenticator
        self.github = None
        if settings.github_enabled:
            self.github = OAuth(app).register(
                "github",
                client_id=settings.github_client_id,
                client_secret=settings.github_client_secret,
                authorize_url=settings.github_authorize_url,
                access_token_url=settings.github_token_url,
                api_base_url=settings.github_api_base,
                client_kwargs={"scope": "read:user read:org" if authenticator.allowed_orgs else "read:user"},
            )
        app.before_request(self.guard)
        app.add_url_rule("/login", "login", self.login)
        app.add_url_rule("/authorize", "authorize", self.authorize)
        app.add_url_rule("/logout", "logout", self.logout)

    def current(self) -> Principal | None:
        """The caller of this request: a bearer token, else the signed-in session, else nobody."""
        header = request.headers.get("Authorization", "")
        if header:
            return self.authenticator.from_bearer(header)
        session_id = session.get("sid")
        return self.authenticator.from_session(session_id) if session_id else None

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
        return None

    def login(self):
        """Start GitHub sign-in; ?next= may send the browser back to the dashboard afterwards."""
        if self.github is None:
            return _message(NOT_CONFIGURED, 501)
        target, binding = request.args.get("next"), request.args.get("binding", "")
        session.pop("next", None)
        session.pop("binding", None)
        if target:
            if not allowed_next(self.settings, target):
                return _message("next must point to the dashboard (DASHBOARD_URL) or an allowed host", 400)
            if not BINDING_PATTERN.match(binding):
                return _message("binding (the SHA-256 hex of the dashboard session's nonce) is required with next", 400)
            session["next"], session["binding"] = target, binding
        return self.github.authorize_redirect(url_for("authorize", _external=True))

    def authorize(self):
        """GitHub's callback: check state, fetch the user, apply the allow-lists, start the session."""
        if self.github is None:
            return _message("GitHub sign-in is not configured on this server", 501)
        try:
            token = self.github.authorize_access_token()
        except MismatchingStateError:
            return _message("Sign-in state did not match (a forged or replayed callback); start again at /login", 400)
        except OAuthError:
            return _message("GitHub refused the sign-in (invalid or expired code); start again at /login", 401)
        user = self.github.get("user", token=token).json()
        principal = Principal.github(user["id"], user["login"], user.get("name") or "")
        orgs: set[str] = set()
        if self.authenticator.allowed_orgs:
            listed = self.github.get("user/orgs?per_page=100", token=token).json()
            orgs = {org["login"].lower() for org in listed if isinstance(org, dict) and "login" in org}
        if not self.authenticator.user_allowed(principal, orgs):
            session.clear()
            return _message(f"GitHub user {user['login']} is not allowed to use this service", 403)
        if self.authenticator.membership is not None:  # kept (encrypted) to re-check membership later
            self.authenticator.membership.remember(principal, token["access_token"], orgs)
        return self._start_session(principal)

    def _start_session(self, principal: Principal):
        """A new server-side session (a fresh cookie: nothing from before sign-in carries over), then where next."""
        target, binding = session.pop("next", None), session.pop("binding", None)
        session.clear()
        session["sid"] = self.authenticator.store.sessions.create(principal, self.session_lifetime)
        session.permanent = True  # the cookie's max-age is the session's lifetime
        if target and binding and allowed_next(self.settings, target):
            user = {"login": principal.login, "id": principal.github_id, "name": principal.name}
            code = self.authenticator.store.create_handoff(user, binding)
            separator = "&" if urlparse(target).query else "?"
            return redirect(f"{target}{separator}{urlencode({'handoff': code})}")
        return redirect(url_for("doc") if "doc" in self.app.view_functions else "/")

    @property
    def session_lifetime(self) -> timedelta:
        """How long a browser session (and the dashboard's sign-in token) lasts."""
        return timedelta(hours=self.settings.session_hours)

    def logout(self):
        """End the browser session, server-side: its cookie no longer works, even a copy taken before."""
        session_id = session.get("sid")
        if session_id:
            self.authenticator.store.sessions.revoke(session_id)
        session.clear()
        if _wants_html():
            return redirect("/")
        return _message("Signed out", 200)


def init_auth(app: Flask, settings: Settings, store: TokenStore | None = None) -> Authenticator:
    """Configure sessions, the request guard and GitHub sign-in on app; returns its authenticator."""
    app.secret_key = resolve_secret_key(settings)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.preferred_url_scheme == "https",
        PREFERRED_URL_SCHEME=settings.preferred_url_scheme,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
    )
    if settings.trust_proxy:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1)
    authenticator = Authenticator(settings, store or TokenStore(settings.service_database_url, settings.token_max_days))
    app.extensions["mlservice_auth"] = authenticator
    FlaskAuth(app, settings, authenticator)
    return authenticator
