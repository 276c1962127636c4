"""The REST application: Flask + Flask-RESTX over the core facade, with authentication and security headers.

Swagger UI is served at ``/`` and the OpenAPI document at ``/swagger.json``. The resources live in
``*_routes.py`` (one module per resource group); core exceptions become HTTP answers in
``mlservice.rest.errors``. Importing this package imports neither scikit-learn nor MLflow: the core
is built on the first request that needs it.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask_restx import Api

from mlservice.errors import ServiceError
from mlservice.identity.flask_adapter import PUBLIC_PATHS, init_auth
from mlservice.rest.auth_routes import auth
from mlservice.rest.dataset_routes import datasets
from mlservice.rest.errors import COMMON_RESPONSES, install_error_handlers
from mlservice.rest.fast_path import FastPredict
from mlservice.rest.headers import security_headers
from mlservice.rest.job_routes import jobs
from mlservice.rest.json_body import BoundedJSONProvider
from mlservice.rest.jsonio import output_json
from mlservice.rest.metrics_routes import init_metrics
from mlservice.rest.model_routes import metrics, models
from mlservice.rest.permission_routes import permissions
from mlservice.rest.schemas import ERROR
from mlservice.rest.service_routes import catalogue, health
from mlservice.rest.v2_routes import v2
from mlservice.settings import Settings
from mlservice.weak_secrets import refuse_weak_secrets

logger = logging.getLogger(__name__)

NAMESPACES = (health, catalogue, models, permissions, metrics, datasets, jobs, auth)
SWAGGER_DESCRIPTION = (
    "Train, version and serve scikit-learn models; every model is tracked in MLflow. "
    "Authorize with `Bearer <token>`: an API token, or the local token printed by `make run`."
)


class ServiceApi(Api):
    """Flask-RESTX's Api: its spec also documents the responses every operation can give, and its
    validation errors name the offending fields in ``message`` (not only under ``errors``)."""

    def handle_error(self, e):
        data = getattr(e, "data", None)
        if isinstance(data, dict) and isinstance(data.get("errors"), dict) and data["errors"]:
            details = "; ".join(f"{field}: {problem}" for field, problem in data["errors"].items())
            data["message"] = ServiceError(f"{data.get('message') or 'Invalid input'}: {details}").message
        return super().handle_error(e)

    @property
    def __schema__(self):
        schema = super().__schema__
        for path, item in schema.get("paths", {}).items():
            for method, operation in item.items():
                if method == "parameters":
                    continue
                responses = operation.setdefault("responses", {})
                if not any(code.startswith("2") for code in responses):
                    responses["200"] = {"description": "Success"}
                for code, description in COMMON_RESPONSES.items():
                    if code in ("401", "403") and path in PUBLIC_PATHS:
                        continue
                    responses.setdefault(code, {"description": description, "schema": {"$ref": "#/definitions/Error"}})
        return schema


class LazyService:
    """The core facade, built (and its job runner started) on first use, once, by whichever thread comes first."""

    def __init__(self, factory: Callable[[], Any]):
        self._factory = factory
        self._service: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        if self._service is None:
            with self._lock:
                if self._service is None:
                    self._service = self._factory().start()
        return self._service

    @property
    def built(self) -> bool:
        """Whether the core exists yet (a metrics scrape must not build it)."""
        return self._service is not None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


def default_service(settings: Settings) -> LazyService:
    """``models.ModelService`` for these settings, built when a request first needs it."""
    return LazyService(lambda: importlib.import_module("models").ModelService(settings))


def create_app(settings: Settings | None = None, service: Any = None) -> Flask:
    """Application factory; tests pass their own settings and, for unit tests, a stand-in core.

    Args:
        service: the core facade; default ``models.ModelService(settings)``, built on first use.
    """
    settings = settings or Settings()
    refuse_weak_secrets(settings)
    app = Flask(__name__)
    app.json = BoundedJSONProvider(app)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes, ERROR_404_HELP=False, RESTX_MASK_SWAGGER=False,
        PROPAGATE_EXCEPTIONS=False,
    )  # fmt: skip
    app.extensions["mlservice"] = service if service is not None else default_service(settings)
    api = ServiceApi(
        app,
        version="1.0",
        title="mlservice",
        # Swagger UI renders this as Markdown, where a bare <token> is an HTML tag and vanishes: code spans
        # show it as typed
        description=SWAGGER_DESCRIPTION,
        doc="/",
        authorizations={
            "bearer": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "Type `Bearer <token>`: the word Bearer, a space, then your token.",
            }
        },
        security="bearer",
    )
    api.models[ERROR.name] = ERROR
    api.representation("application/json")(output_json)
    init_metrics(app)
    init_auth(app, settings)
    app.after_request(security_headers)
    install_error_handlers(app, api)
    for namespace in NAMESPACES:
        api.add_namespace(namespace)
    app.register_blueprint(v2)  # the Open Inference Protocol, beside the API (docs/API.md)
    app.wsgi_app = FastPredict(app)  # predictions of bearer-token callers without Flask's machinery
    return app
