"""`mlinfra:alerting`: who is told about which alert.

Receivers are named; routes pick a receiver by severity and/or service, first match wins;
everything else goes to `defaultReceiver`. Credentials are never written here: a receiver
names a secret of the stack (`mlinfra:secrets`, a Pulumi secret, or `mlinfra:secretArns`,
a Secrets Manager secret), and the value reaches Alertmanager as a mounted file.

On ECS the alert manager is Amazon Managed Service for Prometheus', which delivers to SNS
only, so there every receiver must be an `sns` receiver (PagerDuty and chat tools subscribe
to SNS with an HTTPS endpoint).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from mlinfra.errors import Problem
from mlinfra.spec.base import StrictModel
from mlinfra.spec.service import ServiceSpec

Severity = Literal["critical", "warning"]
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_DURATION = re.compile(r"^[1-9][0-9]*[smh]$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SNS_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]{1,256}$")
_CHANNEL = re.compile(r"^[#@]?[\w.-]{1,80}$")


class SecretRef(StrictModel):
    """`{secret: <name>}`: a secret of the stack by name."""

    secret: str


class SnsReceiver(StrictModel):
    """An SNS topic with subscriptions. Default: a topic of the stack (KMS-encrypted)."""

    topic_arn: str | None = None
    """Publish to an existing topic instead (its subscriptions are then yours)."""
    email: tuple[str, ...] = ()
    """Addresses subscribed to the topic; each must confirm the subscription e-mail."""
    https: tuple[str | SecretRef, ...] = ()
    """HTTPS endpoints subscribed to the topic; a URL that carries a key is a `{secret: name}`."""

    @field_validator("topic_arn")
    @classmethod
    def _arn(cls, v: str | None) -> str | None:
        if v is not None and not _SNS_ARN.match(v):
            raise ValueError("must be an SNS topic ARN: arn:aws:sns:<region>:<account>:<topic>")
        return v

    @field_validator("email")
    @classmethod
    def _emails(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [e for e in v if not _EMAIL.match(e)]
        if bad:
            raise ValueError(f"not e-mail addresses: {bad}")
        return v

    @field_validator("https")
    @classmethod
    def _urls(cls, v: tuple[str | SecretRef, ...]) -> tuple[str | SecretRef, ...]:
        bad = [u for u in v if isinstance(u, str) and not u.startswith("https://")]
        if bad:
            raise ValueError(f"SNS https subscriptions need https:// URLs, got {bad}")
        return v

    @model_validator(mode="after")
    def _something(self) -> SnsReceiver:
        if self.topic_arn is None and not self.email and not self.https:
            raise ValueError("an sns receiver needs topicArn, email or https, or nobody is told")
        return self


class SlackReceiver(StrictModel):
    webhook_url: SecretRef
    """The Slack incoming-webhook URL, a secret: `{secret: <name>}`."""
    channel: str | None = None
    """Default: the webhook's own channel."""

    @field_validator("channel")
    @classmethod
    def _channel(cls, v: str | None) -> str | None:
        if v is not None and not _CHANNEL.match(v):
            raise ValueError("must be a Slack channel such as #ml-alerts")
        return v


class PagerDutyReceiver(StrictModel):
    routing_key: SecretRef
    """The PagerDuty Events API v2 integration key, a secret: `{secret: <name>}`."""


class Receiver(StrictModel):
    """Exactly one of sns, slack, pagerduty."""

    sns: SnsReceiver | None = None
    slack: SlackReceiver | None = None
    pagerduty: PagerDutyReceiver | None = None

    @model_validator(mode="after")
    def _one(self) -> Receiver:
        kinds = [k for k in ("sns", "slack", "pagerduty") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a receiver is exactly one of sns, slack, pagerduty; got {kinds or 'none'}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("sns", "slack", "pagerduty") if getattr(self, k) is not None)

    def secret_refs(self) -> list[str]:
        if self.slack is not None:
            return [self.slack.webhook_url.secret]
        if self.pagerduty is not None:
            return [self.pagerduty.routing_key.secret]
        assert self.sns is not None
        return [u.secret for u in self.sns.https if isinstance(u, SecretRef)]


class Route(StrictModel):
    """Alerts matching every given condition go to `receiver` (omitted conditions match all)."""

    receiver: str
    severity: tuple[Severity, ...] = ()
    services: tuple[str, ...] = ()
    continue_: bool = Field(default=False, alias="continue")
    """Also try the routes after this one (default: first match wins). An alert that matched
    any route never falls back to `defaultReceiver`: to copy pages to a channel, add a later
    route to it."""


class AlertingSettings(StrictModel):
    """Default when omitted: no receiver. Alerts are still evaluated and visible in
    Alertmanager (EKS) or AMP's alert manager (ECS, to the stack's SNS topic), but nobody is told."""

    receivers: dict[str, Receiver]
    default_receiver: str
    """Where every alert that matches no route goes."""
    routes: tuple[Route, ...] = ()
    group_by: tuple[str, ...] = ("alertname", "service")
    group_wait: str = "30s"
    group_interval: str = "5m"
    repeat_interval: str = "4h"

    @field_validator("receivers")
    @classmethod
    def _names(cls, v: dict[str, Receiver]) -> dict[str, Receiver]:
        bad = [n for n in v if not _NAME.match(n)]
        if bad:
            raise ValueError(f"receiver names must be lowercase labels of at most 40 characters, got {bad}")
        if not v:
            raise ValueError("at least one receiver")
        return dict(sorted(v.items()))

    @field_validator("group_wait", "group_interval", "repeat_interval")
    @classmethod
    def _duration(cls, v: str) -> str:
        if not _DURATION.match(v):
            raise ValueError("must be a duration such as 30s, 5m or 4h")
        return v

    @model_validator(mode="after")
    def _receivers_exist(self) -> AlertingSettings:
        known = sorted(self.receivers)
        used = [self.default_receiver, *(r.receiver for r in self.routes)]
        unknown = [u for u in used if u not in self.receivers]
        if unknown:
            raise ValueError(f"unknown receiver(s) {unknown}; receivers: {', '.join(known)}")
        return self


def alerting_problems(
    alerting: AlertingSettings | None, platform: str, services: list[ServiceSpec], secret_names: set[str], file: str
) -> list[Problem]:
    """What the alerting config refers to that this stack does not have."""
    if alerting is None:
        return []
    problems: list[Problem] = []
    key = "mlinfra:alerting"
    declared = {s.name for s in services}
    for name, receiver in alerting.receivers.items():
        if platform == "ecs" and receiver.kind != "sns":
            problems.append(
                Problem(
                    file,
                    f"{key}.receivers.{name}.{receiver.kind}",
                    receiver.kind,
                    "Amazon Managed Service for Prometheus (ECS) delivers alerts to SNS only; allowed on "
                    "ECS: sns (subscribe the PagerDuty or chat endpoint to it under https)",
                )
            )
        for secret in receiver.secret_refs():
            if secret not in secret_names:
                problems.append(
                    Problem(
                        file,
                        f"{key}.receivers.{name}",
                        secret,
                        "unknown secret; allowed: a name under mlinfra:secrets or mlinfra:secretArns: "
                        + (", ".join(sorted(secret_names)) or "none defined"),
                    )
                )
    for i, route in enumerate(alerting.routes):
        for service in route.services:
            if service not in declared:
                problems.append(
                    Problem(
                        file,
                        f"{key}.routes[{i}].services",
                        service,
                        "unknown service; declared services: " + (", ".join(sorted(declared)) or "none"),
                    )
                )
    return problems
