"""A small stand-in for GitHub's OAuth endpoints and user API, served over real HTTP by the tests.

``/login/oauth/authorize`` redirects straight back with a one-time code for ``next_login``;
``/login/oauth/access_token`` exchanges it (GitHub style: errors are 200 with an ``error`` field);
``/api/user`` and ``/api/user/orgs`` answer for the bearer of a token it issued. Tests change the
world between requests: ``set_orgs`` (a user joins or leaves an organisation), ``revoke_tokens`` (the
user revokes the OAuth app) and ``unavailable`` (GitHub answers 503).
"""

from __future__ import annotations

import copy
import secrets
import threading
from urllib.parse import urlencode

from flask import Flask, jsonify, redirect, request
from werkzeug.serving import make_server

USERS = {
    "octocat": {"login": "octocat", "id": 583231, "name": "The Octocat", "orgs": ["acme"]},
    "mallory": {"login": "mallory", "id": 666, "name": "Mallory", "orgs": ["evil-corp"]},
    "member": {"login": "member", "id": 42, "name": "Org Member", "orgs": ["acme"]},
}


class GitHubStub:
    """The stand-in's state plus a real HTTP server on 127.0.0.1."""

    def __init__(self, port: int):
        self.next_login = "octocat"
        self.users = copy.deepcopy(USERS)
        self.unavailable = False
        self.org_requests = 0
        self.codes: dict[str, str] = {}
        self.tokens: dict[str, str] = {}
        self.url = f"http://127.0.0.1:{port}"
        self._server = make_server("127.0.0.1", port, self._app(), threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _app(self) -> Flask:
        app = Flask("github-stub")

        @app.get("/login/oauth/authorize")
        def authorize():
            code = secrets.token_hex(8)
            self.codes[code] = self.next_login
            query = urlencode({"code": code, "state": request.args.get("state", "")})
            return redirect(f"{request.args['redirect_uri']}?{query}")

        @app.post("/login/oauth/access_token")
        def access_token():
            login = self.codes.pop(request.form.get("code", ""), None)
            if login is None:
                return jsonify({"error": "bad_verification_code", "error_description": "The code is incorrect"})
            token = "gho_" + secrets.token_hex(8)
            self.tokens[token] = login
            return jsonify({"access_token": token, "token_type": "bearer", "scope": "read:user"})

        def user_of_request() -> dict | None:
            token = request.headers.get("Authorization", "").partition(" ")[2]
            return self.users.get(self.tokens.get(token, ""))

        @app.get("/api/user")
        def user():
            found = user_of_request()
            if found is None:
                return jsonify({"message": "Bad credentials"}), 401
            return jsonify({k: v for k, v in found.items() if k != "orgs"})

        @app.get("/api/user/orgs")
        def orgs():
            self.org_requests += 1
            if self.unavailable:
                return jsonify({"message": "Service unavailable"}), 503
            found = user_of_request()
            if found is None:
                return jsonify({"message": "Bad credentials"}), 401
            return jsonify([{"login": org} for org in found["orgs"]])

        return app

    def set_orgs(self, login: str, orgs: list[str]) -> None:
        """The user's organisations from now on."""
        self.users[login]["orgs"] = list(orgs)

    def revoke_tokens(self, login: str) -> None:
        """The user revoked the OAuth app: every token issued to them is refused from now on."""
        self.tokens = {token: owner for token, owner in self.tokens.items() if owner != login}

    def start(self) -> GitHubStub:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._thread.join(timeout=5)
