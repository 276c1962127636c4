"""mlservice benchmark suite: ``python -m bench`` (full) or ``python -m bench --quick``.

It starts the real stack natively (MLflow server on PostgreSQL with the moto S3 stand-in, the REST
API under granian, the gRPC server), measures training round trips, predictions, cold starts and
large-data training beside baselines run side by side, and writes ``bench/out/results.json`` and
``bench/RESULTS.md``. See ``docs/PERFORMANCE.md``.
"""
