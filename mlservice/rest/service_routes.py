"""REST resources about the service itself: health and the model catalogue."""

from __future__ import annotations

from flask_restx import Namespace, Resource

from mlservice.rest.context import core

health = Namespace("health", path="/", description="Liveness and dependencies")
catalogue = Namespace("model-classes", path="/model-classes", description="What can be trained")


@health.route("/health")
class Health(Resource):
    """Service health."""

    def get(self):
        """Health of the service and of the MLflow registry it depends on."""
        return core().health()


@catalogue.route("")
class ModelClasses(Resource):
    """The model catalogue."""

    def get(self):
        """Every trainable model class, keyed by model_type, with its hyperparameter schema."""
        return {info["key"]: info for info in core().model_classes()}
