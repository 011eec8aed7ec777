"""Builders for notification tests: a Canary in the middle of a rollback, and its message."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from canary.api.canary import Canary
from canary.engine.types import Notify
from canary.notify.base import Destination
from canary.notify.message import Message, build_message

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OLD_IMAGE, NEW_IMAGE = "ghcr.io/acme/checkout:1.4.2", "ghcr.io/acme/checkout:1.5.0"


def canary(alerts: list[dict[str, Any]] | None = None, **status: Any) -> Canary:
    return Canary.model_validate(
        {
            "metadata": {"name": "checkout", "namespace": "shop", "uid": "u-1"},
            "spec": {
                "targetRef": {"name": "checkout"},
                "service": {"port": 80},
                "strategy": {"canary": {"stepWeight": 10, "maxWeight": 50}},
                "analysis": {"interval": "1m", "threshold": 2},
                "alerts": alerts or [],
            },
            "status": {
                "phase": "Failed",
                "canaryWeight": 0,
                "step": 2,
                "lastAppliedSpec": "7d9c5f",
                "blastRadius": {"requests": 1840, "failures": 97},
                "metrics": [
                    {
                        "name": "request-success-rate",
                        "verdict": "Fail",
                        "value": 94.73,
                        "threshold": ">= 99",
                        "reason": "94.73 < 99",
                        "evidence": {"canaryRequests": 612, "canaryFailures": 32},
                    },
                    {"name": "latency", "verdict": "Pass", "value": 212.0, "threshold": "<= 500"},
                ],
                **status,
            },
        }
    )


def rollback_message(cluster: str = "prod-eu-1") -> Message:
    event = Notify(
        "error",
        "Rolled back: failed checks threshold reached 2: request-success-rate 94.73 < 99",
        transition="rolledback",
    )
    return build_message(canary(), event, cluster=cluster, now=NOW, images=(OLD_IMAGE, NEW_IMAGE))


def destination(kind: str, address: str, **options: Any) -> Destination:
    options.setdefault("timeout", 2.0)
    return Destination(type=kind, address=address, **options)
