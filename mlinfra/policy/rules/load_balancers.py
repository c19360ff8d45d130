"""Exposure and load balancers, both platforms (MLI-NET-*, MLI-ALB-*)."""

from __future__ import annotations

from mlinfra.policy.registry import Graph, Resource, rule
from mlinfra.policy.wire import (
    ANN,
    ECS_TASK,
    INGRESS,
    LISTENERS,
    LOAD_BALANCERS,
    MODERN_TLS,
    alb_attributes,
    annotations_of,
    api_key_auth,
    containers,
    ecs_containers,
    env_by_name,
    ingress_deployments,
    inputs,
    meta,
    number,
)
from mlinfra.serving.contract import API_KEYS_ENV, KEEPALIVE_TIMEOUT_S_ENV


@rule("MLI-NET-001", "critical", "internet-facing endpoints require authentication", INGRESS, *LOAD_BALANCERS)
def _public_auth(res: Resource, g: Graph) -> list[str]:
    if res["type"] == INGRESS:
        if annotations_of(res).get(ANN + "scheme", "internal") != "internet-facing":
            return []
        alb_auth = annotations_of(res).get(ANN + "auth-type") in ("oidc", "cognito")
        if alb_auth or api_key_auth(ingress_deployments(res, g)):
            return []
        return ["internet-facing without an ALB authenticate action (oidc/cognito) or the runtime's API-key check"]
    if inputs(res).get("internal") is not False:
        return []
    listeners = g.dependents(res, *LISTENERS)
    actions = [a for lst in listeners for a in inputs(lst).get("defaultActions") or []]
    if any(str(a.get("type", "")).startswith("authenticate-") for a in actions):
        return []
    tasks = g.of_type(ECS_TASK)
    keyed = [t for t in tasks if g.service_of(t) == g.service_of(res)]
    if keyed and all(
        any(e.get("name") == API_KEYS_ENV for e in [*(c.get("environment") or []), *(c.get("secrets") or [])])
        for t in keyed
        for c in ecs_containers(t)
    ):
        return []
    return ["internet-facing load balancer without authentication (authenticate action or runtime API keys)"]


@rule("MLI-ALB-001", "high", "HTTPS with a modern TLS policy; HTTP only redirects", INGRESS, *LISTENERS)
def _tls(res: Resource, g: Graph) -> list[str]:
    if res["type"] == INGRESS:
        ann = annotations_of(res)
        if (inputs(res).get("spec") or {}).get("ingressClassName") != "alb":
            return []
        out = []
        if not MODERN_TLS.match(ann.get(ANN + "ssl-policy", "")):
            out.append(f"ssl-policy {ann.get(ANN + 'ssl-policy', '(default)')!r} is not a TLS 1.3 policy")
        ports = ann.get(ANN + "listen-ports", "")
        if "HTTPS" not in ports or not ann.get(ANN + "certificate-arn"):
            out.append("no HTTPS listener with a certificate")
        if '"HTTP"' in ports and not ann.get(ANN + "ssl-redirect"):
            out.append("an HTTP listener that does not redirect to HTTPS")
        return out
    proto = inputs(res).get("protocol")
    if proto == "HTTPS":
        policy = str(inputs(res).get("sslPolicy", ""))
        return [] if MODERN_TLS.match(policy) else [f"sslPolicy {policy!r} is not a TLS 1.3 policy"]
    if proto == "HTTP":
        actions = inputs(res).get("defaultActions") or []
        ok = actions and all(
            a.get("type") == "redirect" and (a.get("redirect") or {}).get("protocol") == "HTTPS" for a in actions
        )
        return [] if ok else ["HTTP listener must only redirect to HTTPS"]
    return []


@rule("MLI-ALB-002", "medium", "the ALB drops invalid header fields", INGRESS, *LOAD_BALANCERS)
def _drop_headers(res: Resource, g: Graph) -> list[str]:
    if res["type"] == INGRESS:
        ok = alb_attributes(res).get("routing.http.drop_invalid_header_fields.enabled") == "true"
    else:
        ok = (
            inputs(res).get("loadBalancerType", "application") != "application"
            or inputs(res).get("dropInvalidHeaderFields") is True
        )
    return [] if ok else ["drop_invalid_header_fields must be enabled (request smuggling)"]


@rule("MLI-ALB-003", "medium", "app keep-alive is longer than the ALB idle timeout", INGRESS)
def _keepalive(res: Resource, g: Graph) -> list[str]:
    idle = number(alb_attributes(res).get("idle_timeout.timeout_seconds", 60)) or 60
    out = []
    for d in ingress_deployments(res, g):
        for c in containers(d):
            keep = number((env_by_name(c).get(KEEPALIVE_TIMEOUT_S_ENV) or {}).get("value"))
            if keep is None or keep <= idle:
                out.append(
                    f"{meta(d).get('name')}: keep-alive {keep if keep is not None else 'unset'} <= ALB idle "
                    f"timeout {idle:g}s; the server may close a connection the ALB is reusing (502s)"
                )
    return out
