"""The Alertmanager configuration of a stack, from `mlinfra:alerting`, for both platforms.

EKS runs kube-prometheus-stack's Alertmanager; ECS runs AMP's alert manager, which accepts
the same configuration but delivers to SNS only. Credentials never appear in the config: on
EKS a Slack or PagerDuty receiver reads them from a file of a mounted Kubernetes Secret
(`*_file` settings), an SNS receiver signs with the Alertmanager's IRSA role; SNS subscription
endpoints (both platforms) are outside the config altogether.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlinfra.spec.alerting import AlertingSettings, Receiver, Route

NULL_RECEIVER = "null"
# The Secret kube-prometheus-stack mounts into the Alertmanager pods (alertmanagerSpec.secrets),
# at /etc/alertmanager/secrets/<name>/<key>.
RECEIVER_SECRET = "mlinfra-alert-receivers"
SECRETS_DIR = f"/etc/alertmanager/secrets/{RECEIVER_SECRET}"
# EKS: the Alertmanager's service account, which carries the IRSA role of sns receivers.
ALERTMANAGER_SERVICE_ACCOUNT = "mlinfra-alertmanager"
# kube-prometheus-stack's own defaults, kept: its Watchdog alert always fires by design (a
# dead man's switch) and goes nowhere unless someone wires it to an external checker.
CHART_TEMPLATES = ["/etc/alertmanager/config/*.tmpl"]


def inhibit_rules() -> list[dict[str, Any]]:
    """A service with no ready replica does not also page for its errors or latency; a page on
    an objective silences the warnings on the same objective of the same service."""
    return [
        {
            "source_matchers": ['alertname="MlinfraUnavailable"'],
            "target_matchers": ['alertname=~"Mlinfra.+"', 'alertname!="MlinfraUnavailable"'],
            "equal": ["service"],
        },
        {
            "source_matchers": ['severity="critical"', 'objective=~".+"'],
            "target_matchers": ['severity="warning"', 'objective=~".+"'],
            "equal": ["service", "objective"],
        },
    ]


def secret_key(receiver: str) -> str:
    """The key of a receiver's credential in the receivers Secret."""
    return receiver


def receiver_config(name: str, receiver: Receiver, *, topic_arn: object | None, region: str) -> dict[str, Any]:
    """`topic_arn`: the sns receiver's topic, a string or (EKS, a topic the stack creates) a
    Pulumi Output of one, resolved where the config is rendered."""
    if receiver.slack is not None:
        slack: dict[str, Any] = {"api_url_file": f"{SECRETS_DIR}/{secret_key(name)}", "send_resolved": True}
        if receiver.slack.channel:
            slack["channel"] = receiver.slack.channel
        return {"name": name, "slack_configs": [slack]}
    if receiver.pagerduty is not None:
        return {
            "name": name,
            "pagerduty_configs": [{"routing_key_file": f"{SECRETS_DIR}/{secret_key(name)}", "send_resolved": True}],
        }
    if topic_arn is None:
        raise ValueError(f"receiver {name}: an sns receiver needs its topic ARN")
    return {
        "name": name,
        "sns_configs": [
            {
                "topic_arn": topic_arn,
                "sigv4": {"region": region},
                "send_resolved": True,
                "subject": ("mlinfra {{ .Status }}: {{ .CommonLabels.alertname }} ({{ .CommonLabels.service }})"),
            }
        ],
    }


def _matchers(route: Route) -> list[str]:
    out = []
    if route.severity:
        out.append(f'severity=~"{"|".join(route.severity)}"')
    if route.services:
        out.append(f'service=~"{"|".join(route.services)}"')
    return out


def alertmanager_config(
    alerting: AlertingSettings | None, *, platform: str, region: str, topic_arns: Mapping[str, object]
) -> dict[str, Any]:
    """The whole configuration. `topic_arns`: sns receiver -> its topic (an ARN, or on EKS an
    Output of one). Without `mlinfra:alerting` there is one receiver: on ECS the stack's topic
    (`topic_arns["sns"]`), on EKS the chart's `null`."""
    on_eks = platform == "eks"
    route: dict[str, Any] = {
        "group_by": ["alertname", "service"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "4h",
    }
    receivers: list[dict[str, Any]] = []
    routes: list[dict[str, Any]] = []
    if on_eks:
        receivers.append({"name": NULL_RECEIVER})
        routes.append({"receiver": NULL_RECEIVER, "matchers": ['alertname="Watchdog"']})
    if alerting is None:
        if on_eks:
            route["receiver"] = NULL_RECEIVER
        else:
            route["receiver"] = "sns"
            receivers.append(
                {
                    "name": "sns",
                    "sns_configs": [
                        {
                            "topic_arn": topic_arns["sns"],
                            "sigv4": {"region": region},
                            "send_resolved": True,
                            "subject": (
                                "mlinfra {{ .Status }}: {{ .CommonLabels.alertname }} ({{ .CommonLabels.service }})"
                            ),
                        }
                    ],
                }
            )
    else:
        route.update(
            {
                "receiver": alerting.default_receiver,
                "group_by": list(alerting.group_by),
                "group_wait": alerting.group_wait,
                "group_interval": alerting.group_interval,
                "repeat_interval": alerting.repeat_interval,
            }
        )
        receivers += [
            receiver_config(name, r, topic_arn=topic_arns.get(name), region=region)
            for name, r in alerting.receivers.items()
        ]
        for r in alerting.routes:
            entry: dict[str, Any] = {"receiver": r.receiver, "matchers": _matchers(r)}
            if r.continue_:
                entry["continue"] = True
            routes.append(entry)
    if routes:
        route["routes"] = routes
    config: dict[str, Any] = {"route": route, "receivers": receivers, "inhibit_rules": inhibit_rules()}
    if on_eks:
        config = {"global": {"resolve_timeout": "5m"}, **config, "templates": CHART_TEMPLATES}
    return config
