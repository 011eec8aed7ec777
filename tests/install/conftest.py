"""The real Prometheus of tests/metrics (with its backfilled Istio history), for the dashboard's queries."""

from tests.metrics.conftest import prometheus as prometheus
