"""Builders for engine tests: a Canary at a given point of a run, and observations of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from canary.analysis.results import CheckResult, Verdict
from canary.api.canary import Canary
from canary.engine.types import Observations, Readiness, Routes

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
OLD, NEW = "rev-old", "rev-new"


def make_canary(status: dict[str, Any] | None = None, **spec: Any) -> Canary:
    body: dict[str, Any] = {
        "metadata": {"name": "my-app", "namespace": "default"},
        "spec": {
            "targetRef": {"name": "my-app"},
            "service": {"port": 80},
            "strategy": {"canary": {"stepWeight": 20}},
            "analysis": {
                "interval": "1m",
                "threshold": 2,
                "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 99}}],
            },
            "progressDeadlineSeconds": 300,
        },
    }
    for key, value in spec.items():
        if key == "analysis":
            body["spec"][key] = {**body["spec"][key], **value}
        else:
            body["spec"][key] = value
    body["status"] = status or {}
    return Canary.model_validate(body)


def idle(phase: str = "Succeeded", **extra: Any) -> dict[str, Any]:
    return {"phase": phase, "lastAppliedSpec": OLD, "lastPromotedSpec": OLD, **extra}


def running(step: int = 1, weight: int | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "phase": "Progressing",
        "lastAppliedSpec": NEW,
        "lastPromotedSpec": OLD,
        "step": step,
        "canaryWeight": 20 * step if weight is None else weight,
        "lastAnalysisAt": (NOW - timedelta(minutes=1)).isoformat(),
        "stepStartedAt": (NOW - timedelta(minutes=1)).isoformat(),
        **extra,
    }


def check(verdict: Verdict, name: str = "request-success-rate") -> CheckResult:
    value = {Verdict.PASS: 99.9, Verdict.FAIL: 90.0}.get(verdict)
    return CheckResult(name, verdict, value, None, ">= 99", f"{name} {verdict}", {})


def observe(subject: Canary, **overrides: Any) -> Observations:
    weight = subject.status.canary_weight
    values: dict[str, Any] = {
        "now": NOW,
        "revision": NEW,
        "primary": Readiness(True),
        "canary": Readiness(True),
        "routes": Routes(primary=100 - weight, canary=weight, mirror=subject.status.mirror_weight),
        "analysis": [check(Verdict.PASS)],
    }
    values.update(overrides)
    return Observations(**values)
