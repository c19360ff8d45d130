"""SNS topics as alert receivers, shared by both platforms: subscriptions and the stack secrets
an HTTPS subscription URL may carry."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from mlinfra.components.base import child
from mlinfra.spec.alerting import SecretRef
from mlinfra.spec.stack import StackSettings


def stack_secret_value(name: str, settings: StackSettings, secret_values: dict[str, str]) -> pulumi.Output[str]:
    """A stack secret's value as a Pulumi secret: from `mlinfra:secrets`, or read from Secrets
    Manager (`mlinfra:secretArns`) at deploy time."""
    if name in secret_values:
        return pulumi.Output.secret(secret_values[name])
    version = aws.secretsmanager.get_secret_version_output(secret_id=settings.secret_arns[name])
    return pulumi.Output.secret(version.secret_string)


def subscribe(
    name: str,
    parent: pulumi.Resource,
    topic_arn: pulumi.Input[str],
    emails: tuple[str, ...],
    https: tuple[str | SecretRef, ...],
    settings: StackSettings,
    secret_values: dict[str, str],
) -> None:
    """E-mail addresses must confirm the subscription mail before they receive anything."""
    for i, address in enumerate(emails):
        aws.sns.TopicSubscription(
            f"{name}-email-{i}", topic=topic_arn, protocol="email", endpoint=address, opts=child(parent)
        )
    for i, url in enumerate(https):
        endpoint: pulumi.Input[str] = (
            url if isinstance(url, str) else stack_secret_value(url.secret, settings, secret_values)
        )
        aws.sns.TopicSubscription(
            f"{name}-https-{i}", topic=topic_arn, protocol="https", endpoint=endpoint, opts=child(parent)
        )
