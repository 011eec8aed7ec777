"""Shared building blocks of the API: base model, durations, object metadata and conditions."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator
from pydantic.alias_generators import to_camel

GROUP = "canary.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

DURATION_NUMBER_DIGITS = 6
"""At most this many digits before a duration number's point (and 9 after it)."""
DURATION_MAX_LENGTH = 32
"""At most this many characters in a duration, so the longest is under 500 years."""
DURATION_PATTERN = r"^([0-9]{1,6}(\.[0-9]{1,9})?(ms|s|m|h))+$"
"""The rule the models and the CRD share; `[0-9]` keeps digits ASCII, as Go and Kubernetes read them."""

_DURATION = re.compile(DURATION_PATTERN.removesuffix("$") + r"\Z")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

INT32_MAX = 2**31 - 1
"""Upper bound of counts and other integers in the API (Kubernetes' int32)."""


def parse_duration(text: str) -> float:
    """Seconds in a Go-style duration such as `30s`, `1m`, `1h30m` or `500ms`.

    Raises ValueError unless `text` matches DURATION_PATTERN and has at most DURATION_MAX_LENGTH
    characters, so the result is always finite and below 500 years.
    """
    if len(text) > DURATION_MAX_LENGTH:
        raise ValueError(
            f"invalid duration: longer than {DURATION_MAX_LENGTH} characters ({len(text)})"
        )
    if not _DURATION.match(text):
        raise ValueError(
            f"invalid duration {text!r}: use numbers of at most {DURATION_NUMBER_DIGITS} ASCII "
            "digits with a unit (ms, s, m, h), e.g. 30s, 1m, 1h30m"
        )
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))


def at_least(minimum: str) -> dict[str, Any]:
    """The CRD's form of a duration's minimum: a CEL rule, as no OpenAPI keyword can hold it.

    Kubernetes evaluates `x-kubernetes-validations` (CEL) with Go's time.ParseDuration, which
    reads every duration that DURATION_PATTERN allows.
    """
    return {
        "x-kubernetes-validations": [
            {
                "rule": f"duration(self) >= duration('{minimum}')",
                "message": f"must be at least {minimum}",
            }
        ]
    }


def format_duration(seconds: float) -> str:
    """The shortest Go-style duration for a number of seconds (inverse of parse_duration)."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts) or "0s"


def _check_duration(text: str) -> str:
    parse_duration(text)
    return text


Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    Field(json_schema_extra={"pattern": DURATION_PATTERN, "maxLength": DURATION_MAX_LENGTH}),
]
"""A Go-style duration string (`30s`, `1m`, `1h30m`, `500ms`)."""


PORT_NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
"""A named container port: an IANA service name, 1 to 15 characters, starting with a letter."""
PORT_NAME_MAX_LENGTH = 15
_PORT_NAME = re.compile(PORT_NAME_PATTERN.removesuffix("$") + r"\Z")


def _check_port(value: object) -> int | str:
    """One message for either form, instead of one per member of the int | str union."""
    if isinstance(value, int) and not isinstance(value, bool):
        if 1 <= value <= 65535:
            return value
        raise ValueError(f"a port number must be between 1 and 65535, got {value}")
    if isinstance(value, str):
        if len(value) <= PORT_NAME_MAX_LENGTH and _PORT_NAME.match(value):
            return value
        raise ValueError(
            "a port name must be 1 to 15 lowercase letters, digits and '-', starting with a "
            "letter and not ending with '-'"
        )
    raise ValueError(f"must be a port number (1-65535) or a port name, got {type(value).__name__}")


IntOrString = Annotated[
    int | str,
    PlainValidator(_check_port, json_schema_input_type=int | str),
    Field(
        json_schema_extra={
            "minimum": 1,
            "maximum": 65535,
            "pattern": PORT_NAME_PATTERN,
            "maxLength": PORT_NAME_MAX_LENGTH,
        }
    ),
]
"""A port number or a port name, like Kubernetes' IntOrString in `targetPort`."""


HEADER_NAME_PATTERN = r"^[-!#$%&'*+.^_`|~0-9A-Za-z]+$"
"""An HTTP field name: a token (RFC 9110 section 5.6.2)."""
HEADER_VALUE_PATTERN = r"^[\t\x20-\x7e]*$"
"""An HTTP field value as sent here: printable ASCII and tabs, so never CR or LF."""

HeaderName = Annotated[str, Field(pattern=HEADER_NAME_PATTERN)]
HeaderValue = Annotated[str, Field(pattern=HEADER_VALUE_PATTERN)]


class Model(BaseModel):
    """Base of every API object: camelCase on the wire, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_assignment=False,
        # NaN and infinities cannot travel in JSON, so the API server never sees them; YAML can
        # write them (.nan, .inf), and a NaN bound would make every comparison pass.
        allow_inf_nan=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """The object as Kubernetes stores it: camelCase keys, unset optional fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class FreeForm(BaseModel):
    """An object passed through untouched (an Istio structure that we copy verbatim)."""

    model_config = ConfigDict(extra="allow")


class ObjectMeta(Model):
    """The part of Kubernetes object metadata that this API reads."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    name: str = ""
    namespace: str = "default"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    generation: int | None = None
    resource_version: str | None = None
    uid: str | None = None


class Condition(Model):
    """A status condition in the shape of Kubernetes' metav1.Condition."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    message: str = ""
    last_transition_time: datetime
    observed_generation: int | None = None


class LocalObjectReference(Model):
    """A reference to an object by name in the same namespace."""

    name: str = Field(min_length=1)


class SecretKeyReference(Model):
    """A key of a Secret in the Canary's namespace; the value itself is never logged or stored."""

    name: str = Field(min_length=1)
    key: str | None = None
