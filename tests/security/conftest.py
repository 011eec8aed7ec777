"""The controller tests' fixtures (an API server, a namespace, a reconcile harness), shared here."""

from tests.controller.conftest import env, harness, namespace

__all__ = ["env", "harness", "namespace"]
