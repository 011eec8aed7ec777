"""An emulated Kubernetes API server for tests, benchmarks and the playground (`canary sandbox`)."""

from canary.sandbox.server import ApiServer

__all__ = ["ApiServer"]
