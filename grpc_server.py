"""gRPC entry point (port 50051): ``mlservice.MLService`` from ``app.proto``, with health and reflection.

Run: ``python grpc_server.py [--host H] [--port P]`` (``docker/entrypoint.sh grpc`` does). The servicer
itself lives in ``mlservice.grpc``; this file only starts it.
"""

from mlservice.grpc.server import build_server, main, serve

__all__ = ["build_server", "main", "serve"]

if __name__ == "__main__":
    main()
