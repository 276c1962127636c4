"""Predictions without Flask's per-request machinery: a WSGI layer in front of the Flask app.

``POST /models/<id>/predict`` and ``POST /v2/models/<name>[/versions/<v>]/infer`` with a bearer token
are most of a serving deployment's traffic, and Flask's request and application contexts, session,
routing, hooks and response object cost about as much CPU as the prediction itself
(docs/PERFORMANCE.md). This layer answers those requests itself, with the same parts the Flask views
use: the ``Authenticator`` (``from_bearer``, as the guard), the view's own conversion
(``model_routes.predict_request``, ``v2_routes.infer_answer``), the core facade, the error table
(``errors.http_status_for``), the JSON encoder and the security headers. Whatever it does not fully
handle goes to Flask unchanged, and Flask answers as it always did: no or an invalid token (401 or a
sign-in redirect), a body over the size limit (413), a native body that is not a JSON object or
whose ``version`` Flask-RESTX's schema would refuse, any other path or method.
"""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from flask import Flask

from mlservice.core import metrics
from mlservice.errors import ServiceError
from mlservice.rest import jsonio
from mlservice.rest.errors import http_status_for
from mlservice.rest.headers import SECURITY_HEADERS
from mlservice.rest.model_routes import predict_request
from mlservice.rest.v2_routes import infer_answer

logger = logging.getLogger(__name__)

NATIVE = re.compile(r"/models/([^/]+)/predict")
V2_INFER = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/infer")
JSON_TYPES = ("application/json",)
NATIVE_PATH, V2_ENDPOINT = "/models/<string:model_id>/predict", "v2.infer"
INTERNAL = "Internal server error; the details are in the server log"


def _status_line(code: int) -> str:
    return f"{code} {HTTPStatus(code).phrase}"


def _native_body(data: bytes) -> dict | None:
    """A predict body the Flask-RESTX schema accepts (an object; ``version`` absent or an integer >= 1)."""
    try:
        body = jsonio.loads(data)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    version = body.get("version")
    if version is not None and (type(version) is not int or version < 1):  # pylint: disable=unidiomatic-typecheck
        return None
    return body


class FastPredict:
    """WSGI middleware: the two prediction routes for bearer-token callers, everything else to Flask."""

    def __init__(self, app: Flask):
        self.flask = app.wsgi_app
        self.app = app
        self.authenticator = app.extensions["mlservice_auth"]
        self.max_body = app.config["MAX_CONTENT_LENGTH"]
        self.native_endpoint = next(r.endpoint for r in app.url_map.iter_rules() if r.rule == NATIVE_PATH)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST" and environ.get("HTTP_AUTHORIZATION"):
            path = environ.get("PATH_INFO", "")
            if path.isascii():
                if match := V2_INFER.fullmatch(path):
                    return self._serve(environ, start_response, self._infer, match.groups())
                if (match := NATIVE.fullmatch(path)) and environ.get("CONTENT_TYPE", "").startswith(JSON_TYPES):
                    return self._serve(environ, start_response, self._predict, match.groups())
        return self.flask(environ, start_response)

    def _serve(self, environ: dict, start_response: Callable, handler: Callable, route: tuple) -> Iterable[bytes]:
        started = time.perf_counter()
        length = environ.get("CONTENT_LENGTH")
        if not length or not length.isdigit() or int(length) > self.max_body:
            return self.flask(environ, start_response)  # chunked, or over the limit: Flask's answer
        data = environ["wsgi.input"].read(int(length))
        principal = self.authenticator.from_bearer(environ["HTTP_AUTHORIZATION"])
        answered = handler(principal, route, data, environ) if principal is not None else None
        if answered is None:  # Flask answers this one: rewind the body for it
            environ["wsgi.input"] = io.BytesIO(data)
            return self.flask(environ, start_response)
        status, payload, protocol, endpoint = answered
        metrics.record_request(protocol, endpoint, str(status), time.perf_counter() - started)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload))), *SECURITY_HEADERS]
        start_response(_status_line(status), headers)
        return [payload]

    def _predict(self, principal: Any, route: tuple, data: bytes, _environ: dict) -> tuple | None:
        body = _native_body(data)
        if body is None:
            return None
        try:
            result = self.app.extensions["mlservice"].predict(predict_request(route[0], body), principal)
            status, answer = 200, result
        except ServiceError as exc:
            status, answer = http_status_for(exc), {"message": exc.message}
        except Exception:  # pylint: disable=broad-exception-caught  # answered as Flask would: 500, logged
            logger.exception("Unexpected error predicting with %s", route[0])
            status, answer = 500, {"message": INTERNAL}
        return status, jsonio.dumps(answer) + b"\n", "rest", self.native_endpoint

    def _infer(self, principal: Any, route: tuple, data: bytes, environ: dict) -> tuple:
        name, version = route
        binary = environ.get("HTTP_INFERENCE_HEADER_CONTENT_LENGTH")
        try:
            status, answer = 200, infer_answer(self.app.extensions["mlservice"], principal, name, version, data, binary)
        except ServiceError as exc:
            status, answer = http_status_for(exc), {"error": exc.message}
        except Exception:  # pylint: disable=broad-exception-caught  # answered as Flask would: 500, logged
            logger.exception("Unexpected error in an inference with %s", name)
            status, answer = 500, {"error": INTERNAL}
        return status, jsonio.dumps(answer), "v2-rest", V2_ENDPOINT
