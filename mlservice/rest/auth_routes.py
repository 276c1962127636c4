"""REST resources of identity: who am I, personal API tokens, and the dashboard's sign-in hand-off."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, request
from flask_restx import Model, Namespace, Resource, fields

from mlservice.errors import InvalidInput
from mlservice.identity.authenticator import Authenticator
from mlservice.rest import schemas
from mlservice.rest.context import caller
from mlservice.rest.fields import NullableString
from mlservice.rest.schemas import ERROR

auth = Namespace("auth", path="/", description="Who am I, API tokens, dashboard hand-off")
TOKEN_REQUEST = Model(
    "TokenRequest",
    {
        "name": fields.String(required=True, min_length=1, max_length=100, example="ci"),
        "expires_in_days": fields.Integer(
            min=1,
            description="Default MLSERVICE_TOKEN_DEFAULT_DAYS, at most MLSERVICE_TOKEN_MAX_DAYS; a token created "
            "with a token never outlives it",
        ),
    },
)
TOKEN_RECORD = Model(
    "Token",
    {
        "id": fields.String,
        "name": fields.String,
        "owner": fields.String,
        "created_at": fields.String,
        "expires_at": NullableString(description="When it stops working (every token expires)"),
        "revoked": fields.Boolean,
        "token": fields.String(description="The secret; shown only in the response that creates it"),
    },
)
HANDOFF_REQUEST = Model(
    "HandoffRequest",
    {
        "code": fields.String(required=True, min_length=1, max_length=200),
        "nonce": fields.String(
            required=True, min_length=1, max_length=200,
            description="The dashboard session's secret whose SHA-256 was sent to /login as binding",
        ),
    },
)  # fmt: skip
schemas.add_models(auth, TOKEN_REQUEST, TOKEN_RECORD, HANDOFF_REQUEST)


def authenticator() -> Authenticator:
    """This app's authenticator (its token store and settings)."""
    return current_app.extensions["mlservice_auth"]


@auth.route("/me")
class Me(Resource):
    """The caller."""

    @auth.response(401, "Not signed in", ERROR)
    def get(self):
        """Who is calling: the principal id (what owns and is granted), the login shown, and how they signed in."""
        principal = caller()
        how = "token" if principal.via == "token" and principal.kind == "github" else principal.kind
        return {"principal": principal.id, "login": principal.login, "name": principal.name,
                "id": principal.github_id, "auth": how}  # fmt: skip


@auth.route("/tokens")
class Tokens(Resource):
    """Personal API tokens."""

    @auth.response(200, "Your tokens (never the secrets)", [TOKEN_RECORD])
    def get(self):
        """List your API tokens."""
        return authenticator().store.list(caller())

    @auth.expect(TOKEN_REQUEST, validate=True)
    @auth.response(201, "Created; the secret is in 'token' and is shown only now", TOKEN_RECORD)
    def post(self):
        """Create an API token (name, optional expiry in days); the secret is shown once."""
        body, settings, principal = request.get_json(), authenticator().settings, caller()
        days = body.get("expires_in_days") or min(settings.token_default_days, settings.token_max_days)
        if days > settings.token_max_days:
            raise InvalidInput(f"expires_in_days is {days}; tokens live at most {settings.token_max_days} days here")
        parent = principal.token_id if principal.via == "token" else None  # bounded by and revoked with it
        record, secret = authenticator().store.create(principal, body["name"], timedelta(days=days), parent)
        return {**record, "token": secret}, 201


@auth.route("/tokens/<string:token_id>")
class TokenItem(Resource):
    """One API token."""

    @auth.response(204, "Revoked")
    @auth.response(404, "No such token of yours", ERROR)
    def delete(self, token_id):
        """Revoke one of your API tokens."""
        if not authenticator().store.revoke(caller(), token_id):
            return {"message": f"No active token '{token_id}' of yours"}, 404
        authenticator().verified.forget()  # this process refuses it at once; others within the cache's TTL
        return "", 204


@auth.route("/auth/handoff")
class Handoff(Resource):
    """Dashboard sign-in hand-off."""

    @auth.expect(HANDOFF_REQUEST, validate=True)
    @auth.response(200, "A short-lived token for the signed-in user")
    @auth.response(400, "Unknown, used or expired code", ERROR)
    def post(self):
        """Exchange the one-time code from /login?next=...&binding=... (with its nonce) for a short-lived API token."""
        body = request.get_json()
        lifetime = timedelta(hours=authenticator().settings.session_hours)
        result = authenticator().store.redeem_handoff(body["code"], body["nonce"], lifetime)
        if result is None:
            return {"message": "Unknown, already used or expired sign-in code, or one this dashboard session did not "
                    "start; sign in again"}, 400  # fmt: skip
        return result
