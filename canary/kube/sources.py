"""MetricTemplates and Secret values read from the cluster, for the metric analyzer and the webhooks."""

from __future__ import annotations

from pydantic import ValidationError

from canary.api.common import GROUP, VERSION
from canary.api.metric_template import MetricTemplate
from canary.kube.client import Kube, is_status, read
from canary.metrics.secrets import SecretError, decode


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
    """A SecretSource over the API: one `get` of the referenced Secret when a value is needed.

    Values are decoded on demand, registered with the redactor (canary.redact) and never kept.
    """

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def read(self, namespace: str, name: str, key: str) -> str:
        try:
            secret = read(self.kube.core.read_namespaced_secret, name, namespace)
        except Exception as error:
            # The server's answer is not repeated: only what kind of failure it was.
            status = getattr(error, "status", None)
            why = (
                "access denied"
                if is_status(error, 401, 403)
                else f"HTTP {status}"
                if isinstance(status, int)
                else type(error).__name__
            )
            raise SecretError(namespace, name, key, f"cannot be read ({why})") from None
        if secret is None:
            raise SecretError(namespace, name, key, "does not exist")
        data = secret.get("data") or {}
        if key not in data:
            raise SecretError(namespace, name, key, f"has no key {key!r}")
        return decode(namespace, name, key, data[key], base64_encoded=True)

    def __repr__(self) -> str:
        return "KubeSecrets()"
