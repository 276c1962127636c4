"""The real stack for development: processes the tests and the benchmarks start, and the mixed load they drive.

Shared by ``tests/`` and ``bench/`` (which never import each other); not part of the service and not
copied into the image.
"""
