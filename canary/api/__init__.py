"""The canary.dev/v1alpha1 API: pydantic models that are the single source of truth for the CRDs."""

from canary.api.alert_provider import AlertProvider, AlertProviderSpec, AlertProviderType
from canary.api.canary import (
    Analysis,
    Canary,
    CanarySpec,
    CanaryStatus,
    Metric,
    Phase,
    Strategy,
    Webhook,
    WebhookType,
)
from canary.api.common import GROUP, VERSION, Condition, ObjectMeta, parse_duration
from canary.api.metric_template import MetricTemplate, MetricTemplateSpec

__all__ = [
    "GROUP",
    "VERSION",
    "AlertProvider",
    "AlertProviderSpec",
    "AlertProviderType",
    "Analysis",
    "Canary",
    "CanarySpec",
    "CanaryStatus",
    "Condition",
    "Metric",
    "MetricTemplate",
    "MetricTemplateSpec",
    "ObjectMeta",
    "Phase",
    "Strategy",
    "Webhook",
    "WebhookType",
    "parse_duration",
]
