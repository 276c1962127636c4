"""Asynchronous training jobs: their table in the service database and the runner that executes them."""
