"""AlertProviders read from the cluster, for the dispatcher and `canary notify test`."""

from __future__ import annotations

from pydantic import ValidationError

from canary.api.alert_provider import AlertProvider
from canary.api.common import GROUP, VERSION
from canary.kube.client import Kube, read


class KubeAlertProviders:
    """A ProviderSource over the API; an AlertProvider that does not validate counts as missing."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def get(self, namespace: str, name: str) -> AlertProvider | None:
        obj = read(
            self.kube.custom.get_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            "alertproviders",
            name,
        )
        if obj is None:
            return None
        try:
            return AlertProvider.model_validate({k: v for k, v in obj.items() if k != "status"})
        except ValidationError:
            return None
