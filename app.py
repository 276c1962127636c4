"""REST entry point (port 5000): the Flask + Flask-RESTX API, with GitHub OAuth sign-in.

gunicorn serves it as ``gunicorn "app:create_app()"`` (``docker/entrypoint.sh rest`` does). The API
itself lives in ``mlservice.rest``; this file only builds it for a process.
"""

from mlservice.rest.app import create_app

__all__ = ["create_app"]
