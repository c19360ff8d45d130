"""What the policy rules read: resource type tokens and helpers over wire-form resources
(camelCase keys, numbers possibly floats), as both the offline plan and CrossGuard give them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from mlinfra.policy.registry import Graph, Resource
from mlinfra.serving.contract import API_KEYS_ENV

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
# Each scaler type's minimum-replicas field and its default.
SCALER_MIN = {HPA: ("minReplicas", 1), SCALED_OBJECT: ("minReplicaCount", 0)}
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
K8S_SECRET = "kubernetes:core/v1:Secret"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ECR_REPO = "aws:ecr/repository:Repository"
ECR_LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
LOAD_BALANCERS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
LISTENERS = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
ECS_SERVICE = "aws:ecs/service:Service"
ECS_TASK = "aws:ecs/taskDefinition:TaskDefinition"
ECS_CLUSTER = "aws:ecs/cluster:Cluster"
SCALING_TARGET = "aws:appautoscaling/target:Target"
ANN = "alb.ingress.kubernetes.io/"
MODERN_TLS = re.compile(r"^ELBSecurityPolicy-TLS13-")
SECRETISH = re.compile(r"(PASSWORD|PASSWD|TOKEN|SECRET|API_?KEY|PRIVATE_KEY|CREDENTIAL)", re.I)
# Names that carry a reference to a secret, not the secret itself.
SECRET_REFERENCE = re.compile(r"(_FILE|_DIR|_PATH|_ARN|_ARN_.*|_NAME)$|_ARN_", re.I)
GPU_FAMILIES = ("g4dn", "g5", "g6", "g6e", "p3", "p4d", "p5")
NAMESPACED_KINDS = (
    "kubernetes:apps/",
    "kubernetes:autoscaling/",
    "kubernetes:policy/",
    "kubernetes:networking.k8s.io/",
    "kubernetes:monitoring.coreos.com/",
    "kubernetes:keda.sh/",
)
NAMESPACED_CORE = (
    "kubernetes:core/v1:Service",
    "kubernetes:core/v1:ServiceAccount",
    K8S_SECRET,
    "kubernetes:core/v1:ConfigMap",
)


def inputs(res: Resource) -> dict[str, Any]:
    return res.get("inputs") or {}


def meta(res: Resource) -> dict[str, Any]:
    return inputs(res).get("metadata") or {}


def pod_spec(res: Resource) -> dict[str, Any]:
    return ((inputs(res).get("spec") or {}).get("template") or {}).get("spec") or {}


def containers(res: Resource) -> Iterator[dict[str, Any]]:
    yield from pod_spec(res).get("containers") or []


def number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def selects(selector: dict[str, Any], labels: dict[str, Any]) -> bool:
    match = selector.get("matchLabels") or {}
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


def same_ns(a: Resource, b: Resource) -> bool:
    return meta(a).get("namespace") == meta(b).get("namespace")


def scaler_for(dep: Resource, g: Graph) -> Resource | None:
    """The ScaledObject or HPA that scales this Deployment, if any (also through its Rollout)."""
    return g.autoscaler_of(dep)


def scaler_min_replicas(scaler: Resource) -> float:
    key, default = SCALER_MIN[scaler["type"]]
    return number((inputs(scaler).get("spec") or {}).get(key, default)) or 0


def security_context_value(container: dict[str, Any], pod: dict[str, Any], key: str) -> Any:
    """A security-context field, the container's value winning over the pod's."""
    value = (container.get("securityContext") or {}).get(key)
    return value if value is not None else (pod.get("securityContext") or {}).get(key)


def annotations_of(res: Resource) -> dict[str, str]:
    return {k: str(v) for k, v in (meta(res).get("annotations") or {}).items()}


def alb_attributes(res: Resource) -> dict[str, str]:
    raw = annotations_of(res).get(ANN + "load-balancer-attributes", "")
    return dict(p.split("=", 1) for p in raw.split(",") if "=" in p)


def env_by_name(container: dict[str, Any]) -> dict[str, Any]:
    return {e.get("name"): e for e in container.get("env") or container.get("environment") or []}


def ecs_containers(task: Resource) -> list[dict[str, Any]]:
    raw = inputs(task).get("containerDefinitions")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            return []
    return raw if isinstance(raw, list) else []


def prestop_seconds(container: dict[str, Any]) -> float | None:
    pre = (container.get("lifecycle") or {}).get("preStop") or {}
    if "sleep" in pre:
        return number((pre["sleep"] or {}).get("seconds"))
    command = ((pre.get("exec") or {}).get("command")) or []
    found = [number(x) for x in command if number(x) is not None]
    return found[-1] if "sleep" in " ".join(map(str, command)) and found else None


def literal_secret_envs(envs: list[dict[str, Any]]) -> list[str]:
    return sorted(
        str(e.get("name"))
        for e in envs
        if SECRETISH.search(str(e.get("name", "")))
        and not SECRET_REFERENCE.search(str(e.get("name", "")))
        and "value" in e
        and not str(e.get("value", "")).startswith("arn:")
    )


def is_gpu_group(res: Resource) -> bool:
    types = inputs(res).get("instanceTypes") or []
    return "NVIDIA" in str(inputs(res).get("amiType", "")) or any(str(t).split(".")[0] in GPU_FAMILIES for t in types)


def ingress_deployments(ing: Resource, g: Graph) -> list[Resource]:
    names = {
        ((p.get("backend") or {}).get("service") or {}).get("name")
        for rule_ in (inputs(ing).get("spec") or {}).get("rules") or []
        for p in (rule_.get("http") or {}).get("paths") or []
    }
    return [d for d in g.of_type(DEPLOYMENT) if same_ns(d, ing) and meta(d).get("name") in names]


def api_key_auth(deployments: list[Resource]) -> bool:
    return bool(deployments) and all(API_KEYS_ENV in env_by_name(c) for d in deployments for c in containers(d))


def statements(res: Resource) -> list[dict[str, Any]]:
    raw = inputs(res).get("policy")
    try:
        doc = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        return []
    statements = (doc or {}).get("Statement") if isinstance(doc, dict) else None
    if isinstance(statements, dict):
        return [statements]
    return statements if isinstance(statements, list) else []


def as_list(v: Any) -> list[str]:
    return [str(x) for x in v] if isinstance(v, list) else [str(v)] if v is not None else []


IAM_POLICIES = ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy")
