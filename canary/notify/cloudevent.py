"""Generic webhook: a CloudEvents 1.0 event in structured JSON mode, built with the SDK."""

from __future__ import annotations

import json

from cloudevents.core.bindings.http import to_structured_event
from cloudevents.core.v1.event import CloudEvent

from canary.notify.base import Destination, HttpProvider, Outgoing
from canary.notify.message import Message

TYPE_PREFIX = "dev.canary.rollout."


def event_data(message: Message) -> dict[str, object]:
    """The facts of the message as JSON: the same facts every chat message shows."""
    metric = message.failing_metric
    data: dict[str, object] = {
        "canary": message.canary,
        "namespace": message.namespace,
        "cluster": message.cluster,
        "transition": str(message.transition),
        "severity": message.severity,
        "phase": message.phase,
        "title": message.title,
        "message": message.text,
        "revision": message.revision,
        "facts": dict(message.facts),
        "fields": dict(message.extra),
    }
    if metric is not None:
        data["failingMetric"] = {
            "name": metric.name,
            "value": metric.value,
            "threshold": metric.threshold,
            "reason": metric.reason,
            "evidence": metric.evidence,
        }
    if message.blast_radius is not None:
        served, failed = message.blast_radius
        data["blastRadius"] = {"requests": served, "failures": failed}
    return data


def event(message: Message) -> CloudEvent:
    """The CloudEvent: type dev.canary.rollout.<transition>, source the Canary's API path."""
    return CloudEvent(
        attributes={
            "type": TYPE_PREFIX + str(message.transition),
            "source": message.source,
            "subject": message.subject,
            "time": message.time,
            "datacontenttype": "application/json",
            # Extensions: lower-case alphanumerics, ≤ 20 characters (CloudEvents spec §3.1.1).
            "canarycluster": message.cluster,
            "canaryseverity": message.severity,
        },
        data=event_data(message),
    )


class CloudEventsProvider(HttpProvider):
    """POSTs the event to the Secret's `address` (Content-Type application/cloudevents+json)."""

    def render(self, message: Message, destination: Destination) -> Outgoing:
        http = to_structured_event(event(message))
        return Outgoing(json.loads(http.body), dict(http.headers), raw=http.body)
