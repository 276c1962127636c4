"""Flask-RESTX field types the REST schemas need beyond the built-in ones (shared by app.py and auth.py)."""

from flask_restx import fields


class Nullable:
    """Mixin for fields that may be null (Swagger 2.0's x-nullable)."""

    def schema(self):
        described = super().schema()  # pylint: disable=no-member
        described["x-nullable"] = True
        return described


class NullableString(Nullable, fields.String):
    """A string or null."""


class NullableList(Nullable, fields.List):
    """A list or null."""


class AnyValue(fields.Raw):
    """A JSON value of any type (a label may be an int or a string); no type in the schema."""

    __schema_type__ = None
