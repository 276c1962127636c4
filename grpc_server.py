"""gRPC entry point (port 50051): ``mlservice.MLService`` from ``app.proto``, with health and reflection.

Run: ``python grpc_server.py [--host H] [--port P]`` (``docker/entrypoint.sh grpc`` does); defaults
come from the environment (``mlservice.settings``). SIGTERM stops the server gracefully. The
servicer itself lives in ``mlservice.grpc``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from mlservice.core.metrics import JobStateCollector, serve_metrics
from mlservice.grpc.server import build_server
from mlservice.process import start_process
from mlservice.settings import Settings
from mlservice.weak_secrets import refuse_weak_secrets

logger = logging.getLogger("grpc_server")


def serve(settings: Settings) -> None:
    """Run the gRPC server until SIGTERM/SIGINT, then stop gracefully."""
    refuse_weak_secrets(settings)
    start_process(settings)
    from models import ModelService  # pylint: disable=import-outside-toplevel  # heavy: MLflow, sklearn

    service = ModelService(settings).start()
    server, port = build_server(settings, service)
    if settings.grpc_metrics_port:
        serve_metrics(settings.host, settings.grpc_metrics_port, [JobStateCollector(service.job_counts)])
    stopped = threading.Event()

    def stop(signum, _frame):
        logger.info("Signal %s: stopping gRPC server (grace 10 s)", signum)
        server.stop(grace=10).wait()
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.start()
    logger.info("gRPC server listening on %s:%s", settings.host, port)
    stopped.wait()


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", help="interface to bind (default: MLSERVICE_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: MLSERVICE_GRPC_PORT or 50051)")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in (("host", args.host), ("grpc_port", args.port)) if v is not None}
    serve(Settings(**overrides))


if __name__ == "__main__":
    main()
