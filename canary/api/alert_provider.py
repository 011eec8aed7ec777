"""The AlertProvider resource: where notifications about rollouts are sent."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from canary.api.common import Duration, Model, ObjectMeta, SecretKeyReference


class AlertProviderType(StrEnum):
    """Chat and webhook destinations."""

    SLACK = "slack"
    MSTEAMS = "msteams"
    DISCORD = "discord"
    WEBHOOK = "webhook"


class AlertProviderSpec(Model):
    """A destination. The address (a webhook URL is a credential) is best kept in a Secret."""

    type: AlertProviderType
    address: str | None = Field(
        None, pattern=r"^https?://", description="Webhook URL; prefer secretRef."
    )
    secret_ref: SecretKeyReference | None = Field(
        None, description="Secret with key `address` (and optionally `token`)."
    )
    channel: str | None = None
    username: str = "canary"
    proxy: str | None = Field(None, pattern=r"^https?://")
    timeout: Duration = "10s"

    @model_validator(mode="after")
    def _has_destination(self) -> AlertProviderSpec:
        if self.address is None and self.secret_ref is None:
            raise ValueError("set address or secretRef")
        return self


class AlertProvider(Model):
    """A notification destination shared by Canaries."""

    api_version: Literal["canary.dev/v1alpha1"] = "canary.dev/v1alpha1"
    kind: Literal["AlertProvider"] = "AlertProvider"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: AlertProviderSpec
