"""Status fixtures for the views: a Canary at a healthy step, a failing metric, a waiting gate,
paused, failed and succeeded, with its Deployments and Events, at a fixed "now"."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from canary.operate.view import Snapshot

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
JSON = dict[str, Any]


def at(minutes_ago: float) -> str:
    seconds = NOW.timestamp() - minutes_ago * 60
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def metric(name: str, verdict: str, value: float, threshold: str, **extra: Any) -> JSON:
    return {"name": name, "verdict": verdict, "value": value, "threshold": threshold, **extra}


PASSING = [
    metric("request-success-rate", "Pass", 99.93, ">= 99", primaryValue=99.9),
    metric("request-duration", "Pass", 182.4, "<= 500", primaryValue=176.0),
]
FAILING = [
    metric("request-success-rate", "Fail", 96.2, ">= 99", primaryValue=99.9),
    metric("request-duration", "Pass", 201.0, "<= 500", primaryValue=176.0),
]
JUDGED = [
    {
        "name": "latency-comparison",
        "verdict": "Pass",
        "value": 0.97,
        "primaryValue": 1.0,
        "threshold": "",
        "evidence": {"classification": "Pass", "ratio": 0.9712, "pValue": 0.41, "means": {}},
    }
]


def history(*rows: tuple[float, str, int, str, str]) -> list[JSON]:
    return [
        {"time": at(m), "phase": p, "canaryWeight": w, "verdict": v, "reason": r}
        for m, p, w, v, r in rows
    ]


STARTED = (9.0, "Progressing", 0, "Started", "new revision detected: scaling up the canary")
STEP1 = (8.0, "Progressing", 20, "Pass", "advance canary weight to 20: pre-rollout checks passed")
STEP2 = (
    7.0,
    "Progressing",
    40,
    "Pass",
    "advance canary weight to 40: checks passed (request-success-rate, request-duration)",
)


def canary(status: JSON, *, annotations: JSON | None = None, **spec: Any) -> JSON:
    return {
        "apiVersion": "canary.dev/v1alpha1",
        "kind": "Canary",
        "metadata": {
            "name": "my-app",
            "namespace": "shop",
            "creationTimestamp": at(60 * 26),
            "resourceVersion": "42",
            "annotations": annotations or {},
        },
        "spec": {
            "targetRef": {"name": "my-app"},
            "service": {"port": 80},
            "analysis": {"interval": "1m", "threshold": 3},
            **spec,
        },
        "status": status,
    }


def deployment(name: str, image: str, ready: int, replicas: int = 2) -> JSON:
    return {
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [{"name": "app", "image": image}]}},
        },
        "status": {"readyReplicas": ready},
    }


def event(
    minutes_ago: float, reason: str, message: str, kind: str = "Normal", count: int = 1
) -> JSON:
    return {
        "type": kind,
        "reason": reason,
        "message": message,
        "count": count,
        "lastTimestamp": at(minutes_ago),
    }


def snapshot(
    canary_json: JSON, canary_ready: int = 2, events: list[JSON] | None = None
) -> Snapshot:
    return Snapshot(
        canary=canary_json,
        primary=deployment("my-app-primary", "ghcr.io/acme/my-app:1.4.0", 2),
        target=deployment("my-app", "ghcr.io/acme/my-app:1.5.0", canary_ready),
        events=events or [],
    )


def running(phase: str, step: int, weight: int, failed: int, message: str, **extra: Any) -> JSON:
    return {
        "phase": phase,
        "canaryWeight": weight,
        "step": step,
        "failedChecks": failed,
        "message": message,
        "lastAppliedSpec": "b2c1",
        "lastPromotedSpec": "a9f0",
        **extra,
    }


FIXTURES: dict[str, Snapshot] = {
    "healthy-step": snapshot(
        canary(
            running(
                "Progressing",
                2,
                40,
                0,
                "advance canary weight to 40: checks passed",
                metrics=PASSING,
                history=history(STARTED, STEP1, STEP2),
            )
        ),
        events=[
            event(9, "NewRevision", "New revision detected! Scaling up my-app"),
            event(8, "Advanced", "Advance canary weight to 20"),
            event(7, "Advanced", "Advance canary weight to 40"),
        ],
    ),
    "failing-metric": snapshot(
        canary(
            running(
                "Progressing",
                2,
                40,
                2,
                "check failed: request-success-rate 96.2 is outside >= 99",
                metrics=FAILING,
                history=history(
                    STARTED,
                    STEP1,
                    STEP2,
                    (6.0, "Progressing", 40, "Fail", "check failed: request-success-rate 97.1"),
                    (5.0, "Progressing", 40, "Fail", "check failed: request-success-rate 96.2"),
                ),
            )
        ),
        events=[
            event(5, "CheckFailed", "Check failed (2/3): request-success-rate 96.2", "Warning", 2),
        ],
    ),
    "waiting-gate": snapshot(
        canary(
            running(
                "WaitingPromotion",
                4,
                80,
                0,
                "waiting for confirm-promotion approval: gate answered 403",
                metrics=JUDGED,
                history=history(STARTED, STEP1, STEP2),
            ),
            annotations={"canary.dev/request": "promote/1772366400000-ab12"},
        ),
    ),
    "paused": snapshot(
        canary(
            running(
                "Paused",
                1,
                20,
                0,
                "paused by request; resume to continue",
                history=history(STARTED, STEP1, (3.0, "Paused", 20, "Paused", "paused by request")),
                handledRequest="pause/1772366220000-0f3c",
                lastRequest={
                    "id": "pause/1772366220000-0f3c",
                    "kind": "pause",
                    "outcome": "Accepted",
                    "reason": "pausing the rollout",
                    "time": at(3),
                },
            )
        ),
    ),
    "failed": snapshot(
        canary(
            running(
                "Failed",
                2,
                0,
                3,
                "rolled back: failed checks threshold reached 3: request-success-rate 95.0",
                metrics=FAILING,
                history=history(
                    STARTED,
                    STEP1,
                    STEP2,
                    (2.0, "Failed", 0, "Failed", "rolled back: failed checks threshold reached 3"),
                ),
            )
        ),
        canary_ready=0,
        events=[
            event(
                2, "RolledBack", "Rolling back my-app: failed checks threshold reached 3", "Warning"
            ),
        ],
    ),
    "succeeded": snapshot(
        canary(
            {
                "phase": "Succeeded",
                "canaryWeight": 0,
                "step": 4,
                "message": "promotion finished: the primary runs the new revision",
                "lastRequest": {
                    "id": "abort/1772366000000-77aa",
                    "kind": "abort",
                    "outcome": "Refused",
                    "reason": "nothing to abort, the Canary is Succeeded",
                    "time": at(1),
                },
                "history": history(
                    STARTED, STEP1, (1.5, "Succeeded", 0, "Succeeded", "promotion finished")
                ),
            },
            strategy={"canary": {"stepWeights": [5, 25, 50, 80], "mirror": {"percent": 50}}},
        ),
        canary_ready=0,
    ),
}
