"""How traffic reaches a model's pods on EKS and leaves them: ALB listener-rule conditions,
network policies, and shutdown timings that line up with the ALB's."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from mlinfra.spec.service import ServiceSpec

MONITORING_NAMESPACE = "monitoring"
READINESS_GATE_LABEL = "elbv2.k8s.aws/pod-readiness-gate-inject"
# Time for the load balancer controller to see the pod leave its endpoints and deregister it;
# until then the ALB still sends new requests, so the process keeps serving.
DEREGISTRATION_LATENCY_SECONDS = 15
MARGIN_SECONDS = 5


@dataclass(frozen=True)
class Timings:
    """Seconds; all derived from the request timeout so none cuts a request another allows."""

    pre_stop: int
    """preStop sleep: the ALB stops sending new requests meanwhile."""
    drain: int
    """The runtime's drain after SIGTERM: the longest allowed request plus a margin."""
    deregistration_delay: int
    """The ALB's wait for in-flight requests of a draining target."""
    termination_grace: int
    """The kubelet's deadline: preStop, then the drain, then a margin."""


def timings(spec: ServiceSpec) -> Timings:
    request = math.ceil(spec.request_timeout_seconds)
    drain = request + MARGIN_SECONDS
    return Timings(
        pre_stop=DEREGISTRATION_LATENCY_SECONDS,
        drain=drain,
        deregistration_delay=request + MARGIN_SECONDS,
        termination_grace=DEREGISTRATION_LATENCY_SECONDS + drain + MARGIN_SECONDS,
    )


def source_ip_conditions(spec: ServiceSpec) -> dict[str, str]:
    """Per-service source CIDRs as a listener-rule condition on the shared ALB.

    `inbound-cidrs` would set the shared listener's security group: exclusive per port within
    an IngressGroup, so two services with different CIDRs break the whole group, and one
    restricted service restricts all. A rule condition applies to this service's rule only;
    the conditions-name is the backend service name of the Ingress rule.
    """
    if not (spec.public and spec.allowed_cidrs):
        return {}
    condition = [{"field": "source-ip", "sourceIpConfig": {"values": list(spec.allowed_cidrs)}}]
    return {f"alb.ingress.kubernetes.io/conditions.{spec.name}": json.dumps(condition)}


def default_deny_policy(namespace: str) -> dict[str, object]:
    """Nothing in or out of the namespace unless another policy allows it."""
    return {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def service_policy(spec: ServiceSpec, pod_labels: dict[str, str], load_balancer_cidrs: list[str]) -> dict[str, object]:
    """Ingress from the load balancers' subnets and Prometheus only; egress DNS and HTTPS."""
    port = [{"port": spec.port, "protocol": "TCP"}]
    return {
        "podSelector": {"matchLabels": pod_labels},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [
            # target-type ip: the ALB's nodes in the load balancer subnets connect to the pod.
            {"from": [{"ipBlock": {"cidr": c}} for c in load_balancer_cidrs], "ports": port},
            {
                "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": MONITORING_NAMESPACE}}}],
                "ports": port,
            },
        ],
        "egress": [
            {
                "to": [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                    }
                ],
                "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
            },
            # S3 (the model), STS (IRSA) and Secrets Manager: regional HTTPS endpoints.
            {"ports": [{"port": 443, "protocol": "TCP"}]},
        ],
    }
