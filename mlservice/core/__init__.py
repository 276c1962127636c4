"""The ML core: model classes, request checks, fitting, the MLflow registry, artifacts, serving, datasets."""
