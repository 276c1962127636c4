"""REST resources of per-model grants: ``/models/<id>/permissions[/<principal>]``."""

from __future__ import annotations

from flask import request
from flask_restx import Model, Namespace, Resource, fields

from mlservice.rest import schemas
from mlservice.rest.context import caller, core
from mlservice.rest.schemas import ERROR

permissions = Namespace("permissions", path="/models", description="Who may do what with a model: per-model grants")

GRANT_REQUEST = Model(
    "GrantRequest",
    {"permission": fields.String(required=True, enum=["READ", "EDIT", "MANAGE", "NO_PERMISSIONS"], example="EDIT")},
)
schemas.add_models(permissions, GRANT_REQUEST)


@permissions.route("/<string:model_id>/permissions")
@permissions.response(404, "Unknown model", ERROR)
class Permissions(Resource):
    """Who may do what with a model."""

    @permissions.response(403, "Needs MANAGE on the model", ERROR)
    def get(self, model_id):
        """The model's owner, the default permission, and every grant (needs MANAGE)."""
        return core().list_permissions(model_id, caller())


@permissions.route("/<string:model_id>/permissions/<string:principal>")
@permissions.response(404, "Unknown model (or no grant to delete)", ERROR)
@permissions.response(403, "Needs MANAGE on the model", ERROR)
class Permission(Resource):
    """One principal's permission on a model (github:<numeric id>, service:<name>)."""

    def get(self, model_id, principal):
        """What the principal may do with the model, and whether a grant says so."""
        return core().get_permission(model_id, principal, caller())

    @permissions.expect(GRANT_REQUEST, validate=True)
    def put(self, model_id, principal):
        """Grant READ, EDIT, MANAGE or NO_PERMISSIONS (needs MANAGE; the owner always has MANAGE)."""
        return core().set_permission(model_id, principal, request.get_json()["permission"], caller())

    @permissions.response(204, "Removed: the default permission applies again")
    def delete(self, model_id, principal):
        """Remove the principal's grant on the model."""
        core().delete_permission(model_id, principal, caller())
        return "", 204
