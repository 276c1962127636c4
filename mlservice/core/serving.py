"""Serving: predictions from a model version, loaded once per process and kept in the model cache.

Which version serves is the registry's answer (``current`` unless a version is asked for), trusted
for a short TTL (``mlservice.core.resolution``); the loaded model is cached per (model, version).
"""

from __future__ import annotations

import logging
from typing import Any

from mlservice.core import metrics
from mlservice.core.artifacts import load_model
from mlservice.core.batching import check_output_size, predict_in_chunks
from mlservice.core.catalogue import CLASSIFICATION
from mlservice.core.datasets import parse_csv
from mlservice.core.inputs import PredictRequest, check_version_or_alias
from mlservice.core.model_cache import LoadedModel, ModelCache
from mlservice.core.preprocessing import prediction_input, schema_of
from mlservice.core.records import version_record
from mlservice.core.registry import Registry
from mlservice.core.resolution import VersionResolver
from mlservice.errors import InvalidInput
from mlservice.settings import Settings

logger = logging.getLogger(__name__)


class Predictor:
    """Predict with the current or a given version of a model."""

    def __init__(self, settings: Settings, registry: Registry, resolver: VersionResolver, cache: ModelCache):
        self.settings = settings
        self.registry = registry
        self.resolver = resolver
        self.cache = cache

    def loaded(self, model_id: str, version: Any = None, alias: Any = None) -> LoadedModel:
        """The cached model of (model, version, or the one an alias names: current by default), loaded
        from the store on first use.

        Raises:
            ModelNotFound: unknown model, version or alias. InvalidInput: a malformed version or alias,
            or both. Unavailable: the registry is down and this process never resolved the model.
        """
        number, name = check_version_or_alias(version, alias)
        model_version = self.resolver.resolve(model_id, number, alias=name)
        key = (model_id, str(model_version.version))
        return self.cache.get_or_load(
            key, lambda: load_model(self.registry.client, model_id, model_version, version_record(model_version))
        )

    def predict(self, request: PredictRequest) -> dict[str, Any]:
        """Predictions (and class probabilities for classifiers) as NumPy arrays; each front end encodes them.

        Raises:
            ModelNotFound, InvalidInput (input not matching the model's features), Unavailable.
        """
        request.check()
        loaded = self.loaded(request.model_id, request.version, request.alias)
        result = self._predict(
            request.model_id, loaded, request.X, request.records, probabilities=request.probabilities
        )
        metrics.record_prediction(request.model_id, len(result["predictions"]))
        return result

    def describe(self, model_id: str, version: Any = None) -> dict[str, Any]:
        """What a version takes and answers, from the loaded model: its features in order, each numeric or
        categorical (text, with the categories its encoder knows), its task, and for classifiers the classes
        and whether it gives probabilities.

        Raises:
            ModelNotFound, InvalidInput (a malformed version), Unavailable: as ``loaded``.
        """
        loaded = self.loaded(model_id, version)
        names = loaded.feature_names or [f"feature_{i}" for i in range(loaded.n_features)]
        schema = loaded.schema or schema_of(loaded.estimator, loaded.feature_names)
        return {
            "model_id": model_id,
            "version": int(loaded.version),
            "task": loaded.task,
            "features": [{"name": name, "kind": schema.kind(name)} for name in names],
            "classes": loaded.classes,
            "probabilities": loaded.task == CLASSIFICATION and hasattr(loaded.estimator, "predict_proba"),
        }

    def _predict(  # pylint: disable=too-many-arguments
        self,
        model_id: str,
        loaded: LoadedModel,
        X: Any,
        records: Any,
        field_name: str | None = None,
        probabilities: bool = True,
    ) -> dict[str, Any]:
        schema = loaded.schema or schema_of(loaded.estimator, loaded.feature_names)
        matrix = prediction_input(X, records, schema, self.settings, field_name)
        if matrix.shape[1] != loaded.n_features:
            raise InvalidInput(
                f"Model '{model_id}' expects {loaded.n_features} features per row, got {matrix.shape[1]}"
            )
        with_probabilities = (
            probabilities and loaded.task == CLASSIFICATION and hasattr(loaded.estimator, "predict_proba")
        )
        classes = len(loaded.classes or []) if with_probabilities else 1
        check_output_size(matrix.shape[0], classes, self.settings.max_predict_values)
        try:
            predictions, proba = predict_in_chunks(
                loaded.estimator, matrix, with_probabilities, self.settings.predict_time_limit_seconds
            )
        except (ValueError, TypeError) as exc:  # typed input should never get here: logged to be seen
            logger.warning("Model %s v%s refused typed input", model_id, loaded.version, exc_info=True)
            raise InvalidInput(f"Prediction failed on this input: {exc}") from exc
        result: dict[str, Any] = {
            "model_id": model_id,
            "version": int(loaded.version),
            "predictions": predictions,
        }
        if with_probabilities:
            result["classes"] = loaded.classes
            result["probabilities"] = proba
        return result

    def predict_csv(  # pylint: disable=too-many-arguments
        self, model_id: str, data: bytes, version: Any = None, as_csv: bool = False, alias: Any = None
    ) -> dict | str:
        """Batch prediction for a CSV upload whose header names the model's features.

        Returns:
            The prediction result (as ``predict``: arrays), or with ``as_csv`` the input rows as CSV text with a
            ``prediction`` column (and one ``probability_<class>`` column per class for classifiers).
        """
        loaded = self.loaded(model_id, version, alias)
        schema = loaded.schema or schema_of(loaded.estimator, loaded.feature_names)
        frame = parse_csv(  # categorical columns stay text: "01" is a category, not the number 1
            data, self.settings.max_rows, self.settings.max_features + 1, text_columns=list(schema.categories)
        )
        names = loaded.feature_names or []
        missing = [name for name in names if name not in frame.columns]
        if not names or missing:
            expected = ", ".join(names) or "named features (this model was trained without them: use X)"
            raise InvalidInput(f"the CSV header must name the model's features: {expected}")
        rows = frame[names].astype(object).where(frame[names].notna(), None)
        result = self._predict(model_id, loaded, None, rows.to_dict(orient="records"), "CSV")
        if not as_csv:
            return result
        output = frame.copy()
        output["prediction"] = result["predictions"]
        for index, label in enumerate(result.get("classes") or []):
            output[f"probability_{label}"] = result["probabilities"][:, index]
        return output.to_csv(index=False)
