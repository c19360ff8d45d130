"""What monitoring adds to an EKS stack: kube-prometheus-stack values (Alertmanager routing,
the Grafana dashboard sidecar) and the Secret holding receiver credentials.

Chart keys are those of kube-prometheus-stack at the version pinned in
`mlinfra.components.addons.CHARTS` (held against the chart's values.yaml by
tests/gate/test_alerting.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from mlinfra.monitoring.dashboards import DASHBOARD_LABEL
from mlinfra.monitoring.routing import ALERTMANAGER_SERVICE_ACCOUNT, RECEIVER_SECRET, alertmanager_config, secret_key
from mlinfra.spec.stack import StackSettings


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`extra` over `base`, maps merged recursively and everything else replaced: how Helm
    combines values with a chart's defaults."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def kube_prometheus_stack_values(
    settings: StackSettings,
    topic_arns: Mapping[str, pulumi.Input[str]] | None = None,
    alertmanager_role_arn: pulumi.Input[str] | None = None,
) -> dict[str, Any]:
    """Values merged over the platform's (`components/addons.py`, which also turns off the
    control-plane scrapes EKS does not expose): routing, the receivers Secret mount, and
    dashboards from every namespace. With sns receivers: their topics (`topic_arns`) and the
    Alertmanager service account carrying the IRSA role that may publish to them."""
    alerting = settings.alerting
    spec: dict[str, Any] = {}
    if alerting is not None and any(r.secret_refs() for r in alerting.receivers.values()):
        spec["secrets"] = [RECEIVER_SECRET]
    values: dict[str, Any] = {
        "alertmanager": {
            "config": alertmanager_config(
                alerting, platform="eks", region=settings.region, topic_arns=dict(topic_arns or {})
            )
        },
        "grafana": {
            "sidecar": {
                "dashboards": {
                    "enabled": True,
                    "label": DASHBOARD_LABEL[0],
                    "labelValue": DASHBOARD_LABEL[1],
                    "searchNamespace": "ALL",
                }
            }
        },
    }
    if spec:
        values["alertmanager"]["alertmanagerSpec"] = spec
    if alertmanager_role_arn is not None:
        values["alertmanager"]["serviceAccount"] = {
            "create": True,
            "name": ALERTMANAGER_SERVICE_ACCOUNT,
            "annotations": {"eks.amazonaws.com/role-arn": alertmanager_role_arn},
        }
    return values


def receiver_credentials(settings: StackSettings, secret_values: dict[str, str]) -> dict[str, pulumi.Output[str]]:
    """Receiver name -> its credential, as a Pulumi secret: from `mlinfra:secrets` or read from
    Secrets Manager (`mlinfra:secretArns`) at deploy time."""
    out: dict[str, pulumi.Output[str]] = {}
    if settings.alerting is None:
        return out
    for name, receiver in settings.alerting.receivers.items():
        for ref in receiver.secret_refs():
            if ref in secret_values:
                out[secret_key(name)] = pulumi.Output.secret(secret_values[ref])
            else:
                version = aws.secretsmanager.get_secret_version_output(secret_id=settings.secret_arns[ref])
                out[secret_key(name)] = pulumi.Output.secret(version.secret_string)
    return out


def receiver_secret(
    name: str, settings: StackSettings, secret_values: dict[str, str], namespace: str, opts: pulumi.ResourceOptions
) -> k8s.core.v1.Secret | None:
    """The Secret Alertmanager mounts; created before the chart so its pods can start."""
    data = receiver_credentials(settings, secret_values)
    if not data:
        return None
    return k8s.core.v1.Secret(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=RECEIVER_SECRET, namespace=namespace),
        string_data=data,
        opts=opts,
    )
