"""The AlertProvider resource: where notifications about rollouts are sent."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from canary.api.common import Duration, Model, ObjectMeta


class AlertProviderType(StrEnum):
    """Chat and webhook destinations."""

    SLACK = "slack"
    MSTEAMS = "msteams"
    DISCORD = "discord"
    GOOGLECHAT = "googlechat"
    WEBHOOK = "webhook"


class AlertSecretRef(Model):
    """The Secret holding the destination: a webhook URL is a credential, so it is never in spec.

    Keys: `address` (the webhook URL; for Slack with a bot token, optional), `token` (Slack bot
    token `xoxb-…`, sent with `chat.postMessage` to `channel`).
    """

    name: str = Field(
        min_length=1, description="The Secret's name, in the AlertProvider's namespace."
    )


class AlertProviderSpec(Model):
    """A destination, its delivery settings, and extra facts shown in every message."""

    type: AlertProviderType
    secret_ref: AlertSecretRef = Field(
        description="Secret with key `address` (webhook URL) and/or `token` (Slack bot token)."
    )
    channel: str | None = Field(None, description="Slack channel for a bot token.")
    username: str = "canary"
    format: Literal["adaptive-card", "message-card"] = Field(
        "adaptive-card",
        description="msteams only: a Workflows webhook (Adaptive Card) or a legacy connector.",
    )
    proxy: str | None = Field(None, pattern=r"^https?://")
    ca_bundle: str | None = Field(
        None, description="PEM file of CA certificates to trust (mounted in the controller)."
    )
    timeout: Duration = "10s"
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="Extra facts shown in every message (environment, region, runbook link).",
    )


class AlertProvider(Model):
    """A notification destination shared by Canaries."""

    api_version: Literal["canary.dev/v1alpha1"] = "canary.dev/v1alpha1"
    kind: Literal["AlertProvider"] = "AlertProvider"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: AlertProviderSpec
