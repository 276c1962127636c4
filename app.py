"""REST entry point (port 5000): the Flask + Flask-RESTX API, with GitHub OAuth sign-in.

granian serves it as ``granian --interface wsgi --factory app:create_app`` (``docker/entrypoint.sh rest``
does): each worker process calls ``create_app`` once. The API itself lives in ``mlservice.rest``.
"""

from __future__ import annotations

from flask import Flask

from mlservice.process import start_process
from mlservice.rest.app import create_app as build_app
from mlservice.settings import Settings


def create_app(settings: Settings | None = None, service=None) -> Flask:
    """The REST application of this process: settings from the environment unless given."""
    settings = settings or Settings()
    start_process(settings)
    return build_app(settings, service)
