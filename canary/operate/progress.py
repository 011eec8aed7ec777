"""`status --wait`: one progress line per change, and when the rollout of the target has ended."""

from __future__ import annotations

import re
from typing import Any

from canary.operate.errors import CliError
from canary.operate.steps import progress

JSON = dict[str, Any]
SUCCESS = frozenset({"Succeeded", "Initialized"})
FAILURE = frozenset({"Failed", "Aborted"})
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def parse_timeout(text: str) -> float:
    """Seconds in a Go-style duration ("90s", "15m", "1h30m", "2.5m"). Raises CliError."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not text or not parts or "".join(n + u for n, u in parts) != text:
        raise CliError(f"--timeout {text!r}: not a duration (use 90s, 15m or 1h)", exit_code=2)
    return sum(float(n) * UNITS[u] for n, u in parts)


def line(canary: JSON) -> str:
    """`Progressing step 2 of 4 canary 40% failed 0/5: message`."""
    spec, status = canary.get("spec") or {}, canary.get("status") or {}
    threshold = (spec.get("analysis") or {}).get("threshold", 5)
    return (
        f"{status.get('phase') or 'Unknown'} {progress(spec, status)} "
        f"canary {status.get('canaryWeight', 0)}% failed {status.get('failedChecks', 0)}/"
        f"{threshold}: {status.get('message', '')}"
    ).rstrip(": ")


def current_revision(canary: JSON, target: JSON | None) -> bool:
    """Whether the run in the status is the one of the target's current pod template.

    Right after `kubectl apply` the Canary still shows the last rollout's Succeeded; the run is
    current once the controller recorded the target's revision (the same hash it computes, over
    the pod template and the tracked configs recorded in the status).
    """
    if target is None:
        return True
    from canary.kube.revision import revision

    status = canary.get("status") or {}
    template = (target.get("spec") or {}).get("template") or {}
    expected = revision(template, status.get("trackedConfigs") or {})
    return status.get("lastAppliedSpec") == expected


def ended(canary: JSON, target: JSON | None) -> bool:
    phase = (canary.get("status") or {}).get("phase")
    return phase in SUCCESS | FAILURE and current_revision(canary, target)


def outcome(canary: JSON) -> bool:
    """True when the rollout ended well."""
    return (canary.get("status") or {}).get("phase") in SUCCESS
