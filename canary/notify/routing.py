"""Which AlertProviders get a message: the Canary's alerts by severity, else the default."""

from __future__ import annotations

from dataclasses import dataclass, field

from canary.api.canary import Canary

RANK = {"info": 0, "warn": 1, "error": 2}


def receives(alert_severity: str, message_severity: str) -> bool:
    """`info` gets everything, `warn` gets warnings and errors, `error` only errors."""
    return RANK.get(message_severity, 2) >= RANK.get(alert_severity, 0)


@dataclass(frozen=True)
class Route:
    """An AlertProvider by namespace and name, with the alert's severity and extra fields."""

    namespace: str
    name: str
    severity: str = "info"
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def parse(cls, text: str, severity: str = "info") -> Route:
        """`namespace/name` (the controller-wide default provider); ValueError when malformed."""
        namespace, _, name = text.partition("/")
        if not namespace or not name or "/" in name:
            raise ValueError(f"alert provider {text!r}: expected NAMESPACE/NAME")
        if severity not in RANK:
            raise ValueError(f"alert severity {severity!r}: expected info, warn or error")
        return cls(namespace, name, severity)


def routes(
    canary: Canary,
    severity: str,
    *,
    default: Route | None = None,
    allow_cross_namespace: bool = False,
) -> tuple[list[Route], list[str]]:
    """The providers that receive a message of `severity`, and why any alert was skipped.

    A Canary without alerts uses `default`. A provider in another namespace is used only when
    `allow_cross_namespace` (otherwise a team could post through another team's credentials).
    """
    namespace = canary.metadata.namespace
    chosen: list[Route] = []
    problems: list[str] = []
    if not canary.spec.alerts:
        if default is not None and receives(default.severity, severity):
            chosen.append(default)
        return chosen, problems
    for alert in canary.spec.alerts:
        if not receives(str(alert.severity), severity):
            continue
        target = alert.provider_ref.namespace or namespace
        if target != namespace and not allow_cross_namespace:
            problems.append(
                f"alert {alert.name}: provider {target}/{alert.provider_ref.name} is in another "
                "namespace, which this controller does not allow"
            )
            continue
        chosen.append(Route(target, alert.provider_ref.name, str(alert.severity), alert.fields))
    return chosen, problems
