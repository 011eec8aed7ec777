"""MetricTemplates and Secret values read from the cluster, for the metric analyzer and the webhooks."""

from __future__ import annotations

import base64

from pydantic import ValidationError

from canary.api.common import GROUP, VERSION
from canary.api.metric_template import MetricTemplate
from canary.kube.client import Kube, read
from canary.metrics.secrets import SecretError


class KubeTemplates:
    """A TemplateSource over the API: MetricTemplates are read when a metric needs them."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def get(self, namespace: str, name: str) -> MetricTemplate | None:
        obj = read(
            self.kube.custom.get_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            "metrictemplates",
            name,
        )
        if obj is None:
            return None
        try:
            return MetricTemplate.model_validate({k: v for k, v in obj.items() if k != "status"})
        except ValidationError:
            return None


class KubeSecrets:
    """A SecretSource over the API; values are decoded on demand and never kept."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def read(self, namespace: str, name: str, key: str) -> str:
        try:
            secret = read(self.kube.core.read_namespaced_secret, name, namespace)
        except Exception as error:
            raise SecretError(f"secret {namespace}/{name} cannot be read: {error}") from None
        data = (secret or {}).get("data") or {}
        if key not in data:
            raise SecretError(f"secret {namespace}/{name} has no key {key!r}")
        return base64.b64decode(data[key]).decode()

    def __repr__(self) -> str:
        return "KubeSecrets()"
