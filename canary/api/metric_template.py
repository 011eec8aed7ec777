"""The MetricTemplate resource: a reusable metric query with variables."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from canary.api.common import (
    HEADER_NAME_PATTERN,
    Duration,
    HeaderName,
    HeaderValue,
    Model,
    ObjectMeta,
    SecretKeyReference,
)


class MetricProviderType(StrEnum):
    """Metric back ends. Prometheus is the first; a new one is one new provider module."""

    PROMETHEUS = "prometheus"


class BasicAuth(Model):
    """Basic authentication read from a Secret with keys `username` and `password`."""

    secret_ref: SecretKeyReference


class TLSOptions(Model):
    """TLS settings for the provider's connection."""

    insecure_skip_verify: bool = False
    ca_secret_ref: SecretKeyReference | None = None
    server_name: str | None = None


class MetricProvider(Model):
    """Where and how to run the query."""

    type: MetricProviderType = MetricProviderType.PROMETHEUS
    address: str = Field(
        pattern=r"^https?://", description="Base URL, e.g. http://prometheus.istio-system:9090"
    )
    bearer_token_secret_ref: SecretKeyReference | None = None
    basic_auth: BasicAuth | None = None
    headers: dict[HeaderName, HeaderValue] = Field(
        default_factory=dict,
        description="Extra HTTP headers (not secrets: use a secretRef). Names are HTTP tokens; "
        "values printable ASCII, without CR or LF.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": f'self.all(k, k.matches("{HEADER_NAME_PATTERN}"))',
                    "message": "header names must be HTTP tokens",
                }
            ]
        },
    )
    tls: TLSOptions | None = None
    timeout: Duration = Field("5s", description="Timeout of one query.")


class MetricTemplateSpec(Model):
    """A PromQL query with `{{ variable }}` placeholders filled in per Canary."""

    provider: MetricProvider
    query: str = Field(
        min_length=1,
        description="Variables: name, namespace, target, primary, canary, service, interval, and "
        "templateVariables. Inside a regex matcher (=~ or !~) a value matches only itself; "
        "write {{ name | regex }} for a value that is a regular expression.",
    )
    variables: dict[str, str] = Field(
        default_factory=dict, description="Defaults for custom variables."
    )


class MetricTemplate(Model):
    """A reusable metric query."""

    api_version: Literal["canary.dev/v1alpha1"] = "canary.dev/v1alpha1"
    kind: Literal["MetricTemplate"] = "MetricTemplate"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: MetricTemplateSpec
