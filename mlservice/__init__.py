"""mlservice: train, version and serve scikit-learn models over REST, gRPC and a Streamlit dashboard.

The package holds the internals; the top-level files of the repository are the entry points
(``app.py``, ``grpc_server.py``, ``dashboard.py``) and the core's facade (``models.py``).
``docs/ARCHITECTURE.md`` maps the sub-packages and the rules between them.
"""
