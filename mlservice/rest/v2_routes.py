"""The Open Inference Protocol's REST door (KServe "V2"): ``/v2/...`` as plain Flask views over the core.

Each view decodes the JSON body into tensors (``mlservice.oip``), calls the core facade with the
caller the guard established (READ on the model, as the project's own predict), and encodes the
answer with orjson. Errors are ``{"error": "..."}`` with the status the core's exception maps to
(``mlservice.rest.errors``): 400 bad input, 404 unknown model or version, 401/403 as everywhere.
Liveness, readiness and server metadata are public, like ``/health``. Plain views rather than
Flask-RESTX resources: the protocol has its own specification, and they cost less per request
(docs/PERFORMANCE.md); they are documented in docs/API.md, not in Swagger.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import Blueprint, Response, request

from mlservice.errors import InvalidInput, ServiceError
from mlservice.oip import dataplane
from mlservice.oip.tensors import Tensor, check_header, from_values
from mlservice.rest import jsonio
from mlservice.rest.context import caller, core
from mlservice.rest.errors import http_status_for

logger = logging.getLogger(__name__)

v2 = Blueprint("v2", __name__, url_prefix="/v2")
PUBLIC = frozenset({"/v2", "/v2/", "/v2/health/live", "/v2/health/ready"})
JSON = "application/json"
MODEL_PATHS = ("/models/<string:name>", "/models/<string:name>/versions/<string:version>")


def answer(body: Any, status: int = 200) -> Response:
    """A JSON answer (NumPy arrays encoded as they are)."""
    return Response(jsonio.dumps(body), status=status, mimetype=JSON)


def error(message: str, status: int) -> Response:
    """The protocol's error body."""
    return answer({"error": message}, status)


@v2.errorhandler(ServiceError)
def service_error(exc: ServiceError) -> Response:
    """A core exception as the protocol's error, with the status the REST table gives it."""
    return error(exc.message, http_status_for(exc))


@v2.after_request
def errors_as_the_protocol_says(response: Response) -> Response:
    """Answers made outside these views (the guard's 401, a body over the size limit) carry ``error`` too."""
    if response.status_code >= 400 and response.mimetype == JSON:
        body = jsonio.loads(response.get_data())
        if isinstance(body, dict) and "error" not in body and "message" in body:
            response.set_data(jsonio.dumps({"error": body["message"]}))
    return response


@v2.get("")
@v2.get("/")
def server_metadata():
    """Server metadata: name, version, extensions."""
    return answer(dataplane.server_metadata())


@v2.get("/health/live")
def live():
    """The server answers."""
    return answer({"live": True})


@v2.get("/health/ready")
def ready():
    """Ready when the registry answers (as ``/health``); 503 otherwise, so that clients see it by the status."""
    state = core().health()
    return answer({"ready": state["status"] == "ok"}, 200 if state["status"] == "ok" else 503)


def _described(name: str, version: str | None) -> dict[str, Any]:
    return core().model_metadata(name, dataplane.model_version(version), caller())


@v2.get(MODEL_PATHS[0])
@v2.get(MODEL_PATHS[1])
def model_metadata(name: str, version: str | None = None):
    """A model version's inputs and outputs (default version: current)."""
    return answer(dataplane.model_metadata(_described(name, version)))


@v2.get(MODEL_PATHS[0] + "/ready")
@v2.get(MODEL_PATHS[1] + "/ready")
def model_ready(name: str, version: str | None = None):
    """200 when the version can serve (loaded, or loadable now); 404 for an unknown model or version."""
    _described(name, version)
    return answer({"name": name, "ready": True})


@v2.post(MODEL_PATHS[0] + "/infer")
@v2.post(MODEL_PATHS[1] + "/infer")
def infer(name: str, version: str | None = None):
    """Inference: input tensors in, the outputs asked for (default ``predict``) out."""
    binary = request.headers.get("Inference-Header-Content-Length")
    return answer(infer_answer(core(), caller(), name, version, request.get_data(cache=False), binary))


def infer_answer(service: Any, who: Any, name: str, version: str | None, body: bytes, binary: Any = None) -> dict:
    """The inference response for a JSON request body (shared with the fast path, ``mlservice.rest.fast_path``).

    Args:
        binary: the ``Inference-Header-Content-Length`` header, when the client sent binary tensors.
    """
    if binary:
        raise InvalidInput("binary tensor data is not supported here: send JSON data (tritonclient: binary_data=False)")
    inferred = infer_request(name, version, body)
    result = service.predict(dataplane.predict_request(inferred), who)
    outputs = dataplane.output_tensors(result, inferred.outputs)
    return {
        "model_name": name,
        "model_version": str(result["version"]),
        "id": inferred.id,
        "parameters": {},
        "outputs": [{"name": t.name, "datatype": t.datatype, "shape": t.shape, "data": t.data} for t in outputs],
    }


def infer_request(name: str, version: str | None, data: bytes) -> dataplane.InferRequest:
    """A JSON body as an inference request with decoded tensors.

    Raises:
        InvalidInput: a body that is not the protocol's JSON, a malformed tensor.
    """
    try:
        body = jsonio.loads(data)
    except jsonio.TooDeeplyNestedJSON as exc:
        raise InvalidInput(str(exc)) from None
    except ValueError:
        raise InvalidInput("the body must be JSON: an inference request with 'inputs'") from None
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise InvalidInput("the body must be an inference request: an object with a list of 'inputs'")
    outputs = body.get("outputs") or []
    if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
        raise InvalidInput("'outputs' must be a list of objects with a 'name'")
    parameters = body.get("parameters") or {}
    identifier = body.get("id")
    return dataplane.InferRequest(
        model_name=name,
        model_version=version,
        id=str(identifier) if identifier is not None else str(uuid.uuid4()),
        inputs=[_input(item) for item in body["inputs"]],
        outputs=[o.get("name") for o in outputs] or None,
        parameters=parameters if isinstance(parameters, dict) else {},
    )


def _input(item: Any) -> Tensor:
    if not isinstance(item, dict):
        raise InvalidInput("each input must be an object with name, datatype, shape and data")
    name, datatype, shape = check_header(item.get("name"), item.get("datatype"), item.get("shape"))
    if "data" not in item:
        raise InvalidInput(f"tensor '{name}': 'data' is missing")
    tensor = Tensor(name, datatype, shape, parameters=item.get("parameters") or {})
    tensor.data = from_values(tensor, item["data"])
    return tensor
