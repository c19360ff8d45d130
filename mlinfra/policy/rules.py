"""Policy rules over the resource graph: the secure defaults (docs/architecture.md) plus prod rules.

Every rule is a plain function `(resource, graph) -> list of messages` over resources in wire
form (camelCase keys, numbers possibly floats), so the same functions run over an offline plan
(`mlinfra plan`) and over the real engine's resources (the CrossGuard pack in `policypack/`).
Rules are registered by resource type: another platform's types (ECS, ALB) slot in the same way.
Ids are public API: never renumber or reuse one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from mlinfra.serving.contract import API_KEYS_ENV, KEEPALIVE_TIMEOUT_S_ENV

Resource = dict[str, Any]
SEVERITIES = ("critical", "high", "medium", "low")

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
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
NAMESPACED_KINDS = ("kubernetes:apps/", "kubernetes:autoscaling/", "kubernetes:policy/",
                    "kubernetes:networking.k8s.io/", "kubernetes:monitoring.coreos.com/")
NAMESPACED_CORE = ("kubernetes:core/v1:Service", "kubernetes:core/v1:ServiceAccount", K8S_SECRET,
                   "kubernetes:core/v1:ConfigMap")


class Graph:
    """The whole resource set a rule may look across (e.g. "is there a PDB for this?")."""

    def __init__(self, resources: list[Resource], *, production: bool) -> None:
        self.resources = resources
        self.production = production
        self.by_urn = {r["urn"]: r for r in resources}
        self._by_type: dict[str, list[Resource]] = {}
        for r in resources:
            self._by_type.setdefault(r["type"], []).append(r)

    def of_type(self, *types: str) -> list[Resource]:
        return [r for t in types for r in self._by_type.get(t, [])]

    def dependents(self, res: Resource, *types: str) -> list[Resource]:
        return [r for r in self.of_type(*types) if res["urn"] in (r.get("dependencies") or [])]

    def deps(self, res: Resource, *types: str) -> list[Resource]:
        found = (self.by_urn.get(u) for u in res.get("dependencies") or [])
        return [r for r in found if r is not None and r["type"] in types]


Check = Callable[[Resource, Graph], list[str]]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    title: str
    types: tuple[str, ...]
    check: Check
    prod_only: bool = False
    """Only evaluated on stacks with `mlinfra:tier: prod`."""


RULES: list[Rule] = []


def rule(id_: str, severity: str, title: str, *types: str, prod_only: bool = False) -> Callable[[Check], Check]:
    if severity not in SEVERITIES:
        raise ValueError(f"rule {id_}: severity {severity!r} is not one of {SEVERITIES}")

    def register(fn: Check) -> Check:
        RULES.append(Rule(id_, severity, title, types, fn, prod_only))
        return fn
    return register


def rule_ids() -> list[str]:
    return sorted(r.id for r in RULES)


# ---------------------------------------------------------------- helpers over wire-form inputs

def inputs(res: Resource) -> dict[str, Any]:
    return res.get("inputs") or {}


def meta(res: Resource) -> dict[str, Any]:
    return inputs(res).get("metadata") or {}


def pod_spec(res: Resource) -> dict[str, Any]:
    return ((inputs(res).get("spec") or {}).get("template") or {}).get("spec") or {}


def containers(res: Resource) -> Iterator[dict[str, Any]]:
    yield from pod_spec(res).get("containers") or []


def _num(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _selects(selector: dict[str, Any], labels: dict[str, Any]) -> bool:
    match = selector.get("matchLabels") or {}
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


def _same_ns(a: Resource, b: Resource) -> bool:
    return meta(a).get("namespace") == meta(b).get("namespace")


def hpa_for(dep: Resource, g: Graph) -> Resource | None:
    for hpa in g.of_type(HPA):
        ref = (inputs(hpa).get("spec") or {}).get("scaleTargetRef") or {}
        if _same_ns(hpa, dep) and ref.get("kind") == "Deployment" and ref.get("name") == meta(dep).get("name"):
            return hpa
    return None


def _sc(container: dict[str, Any], pod: dict[str, Any], key: str) -> Any:
    """A security-context field, the container's value winning over the pod's."""
    value = (container.get("securityContext") or {}).get(key)
    return value if value is not None else (pod.get("securityContext") or {}).get(key)


def _annotations(res: Resource) -> dict[str, str]:
    return {k: str(v) for k, v in (meta(res).get("annotations") or {}).items()}


def _alb_attributes(res: Resource) -> dict[str, str]:
    raw = _annotations(res).get(ANN + "load-balancer-attributes", "")
    return dict(p.split("=", 1) for p in raw.split(",") if "=" in p)


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e.get("name"): e for e in container.get("env") or container.get("environment") or []}


def ecs_containers(task: Resource) -> list[dict[str, Any]]:
    raw = inputs(task).get("containerDefinitions")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            return []
    return raw if isinstance(raw, list) else []


# ---------------------------------------------------------------- Kubernetes workloads

@rule("MLI-K8S-001", "high", "containers set cpu and memory requests and limits (GPUs in limits)", DEPLOYMENT)
def _resources(res: Resource, g: Graph) -> list[str]:
    out = []
    for c in containers(res):
        r = c.get("resources") or {}
        for kind in ("requests", "limits"):
            missing = [k for k in ("cpu", "memory") if k not in (r.get(kind) or {})]
            if missing:
                out.append(f"container {c.get('name')} has no {kind} for {', '.join(missing)}")
        if "nvidia.com/gpu" in (r.get("requests") or {}) and "nvidia.com/gpu" not in (r.get("limits") or {}):
            out.append(f"container {c.get('name')} requests GPUs but does not limit them")
    return out


@rule("MLI-K8S-002", "high", "readiness and liveness probes are set and differ", DEPLOYMENT)
def _probes(res: Resource, g: Graph) -> list[str]:
    out = []
    for c in containers(res):
        ready, live = c.get("readinessProbe"), c.get("livenessProbe")
        if not ready or not live:
            out.append(f"container {c.get('name')} lacks a {'readiness' if not ready else 'liveness'} probe")
        elif ready == live:
            out.append(f"container {c.get('name')}: liveness equals readiness, so a slow model restarts in a loop")
    return out


@rule("MLI-K8S-003", "high", "pods run as non-root with a numeric uid", DEPLOYMENT)
def _non_root(res: Resource, g: Graph) -> list[str]:
    pod, out = pod_spec(res), []
    for c in containers(res):
        uid = _num(_sc(c, pod, "runAsUser"))
        if _sc(c, pod, "runAsNonRoot") is not True or uid is None or uid <= 0:
            out.append(f"container {c.get('name')} needs runAsNonRoot: true and a numeric runAsUser > 0")
    return out


@rule("MLI-K8S-004", "high", "privilege escalation is off", DEPLOYMENT)
def _no_escalation(res: Resource, g: Graph) -> list[str]:
    return [f"container {c.get('name')} must set allowPrivilegeEscalation: false"
            for c in containers(res) if (c.get("securityContext") or {}).get("allowPrivilegeEscalation") is not False]


@rule("MLI-K8S-005", "high", "all Linux capabilities are dropped", DEPLOYMENT)
def _drop_all(res: Resource, g: Graph) -> list[str]:
    return [f"container {c.get('name')} must drop ALL capabilities"
            for c in containers(res)
            if "ALL" not in (((c.get("securityContext") or {}).get("capabilities") or {}).get("drop") or [])]


@rule("MLI-K8S-006", "medium", "seccomp profile is RuntimeDefault", DEPLOYMENT)
def _seccomp(res: Resource, g: Graph) -> list[str]:
    pod = pod_spec(res)
    return [f"container {c.get('name')} must use seccompProfile RuntimeDefault"
            for c in containers(res) if (_sc(c, pod, "seccompProfile") or {}).get("type") != "RuntimeDefault"]


@rule("MLI-K8S-007", "medium", "root filesystem is read-only, with an emptyDir for /tmp", DEPLOYMENT)
def _read_only(res: Resource, g: Graph) -> list[str]:
    pod, out = pod_spec(res), []
    empty_dirs = {v.get("name") for v in pod.get("volumes") or [] if "emptyDir" in v}
    for c in containers(res):
        if (c.get("securityContext") or {}).get("readOnlyRootFilesystem") is not True:
            out.append(f"container {c.get('name')} must set readOnlyRootFilesystem: true")
        elif not any(m.get("mountPath") == "/tmp" and m.get("name") in empty_dirs for m in c.get("volumeMounts") or []):
            out.append(f"container {c.get('name')} has a read-only root but no emptyDir mounted at /tmp")
    return out


@rule("MLI-K8S-008", "high", "a dedicated IRSA service account, token automount off", DEPLOYMENT)
def _service_account(res: Resource, g: Graph) -> list[str]:
    pod, out = pod_spec(res), []
    name = pod.get("serviceAccountName")
    if not name or name == "default":
        out.append("pods must run under a dedicated service account, not `default`")
    if pod.get("automountServiceAccountToken") is not False:
        out.append("automountServiceAccountToken must be false")
    accounts = [sa for sa in g.of_type(SERVICE_ACCOUNT) if _same_ns(sa, res) and meta(sa).get("name") == name]
    if name and name != "default" and not any(
            "eks.amazonaws.com/role-arn" in _annotations(sa) for sa in accounts):
        out.append(f"service account {name} has no IRSA role (eks.amazonaws.com/role-arn annotation)")
    return out


@rule("MLI-K8S-009", "medium", "namespaced objects are not in the default namespace",
      DEPLOYMENT, HPA, PDB, NETPOL, INGRESS, SERVICE_ACCOUNT, K8S_SECRET, "kubernetes:core/v1:Service",
      "kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
      HELM_RELEASE)
def _namespace(res: Resource, g: Graph) -> list[str]:
    ns = inputs(res).get("namespace") if res["type"] == HELM_RELEASE else meta(res).get("namespace")
    return [] if ns and ns != "default" else [f"{res['type'].rsplit(':', 1)[-1]} is in the default namespace"]


@rule("MLI-K8S-010", "medium", "no static replicas on an HPA-managed Deployment", DEPLOYMENT)
def _static_replicas(res: Resource, g: Graph) -> list[str]:
    if hpa_for(res, g) is not None and "replicas" in (inputs(res).get("spec") or {}):
        return ["spec.replicas is set although an HPA owns the count; every deploy resets the autoscaler"]
    return []


def _prestop_seconds(container: dict[str, Any]) -> float | None:
    pre = (container.get("lifecycle") or {}).get("preStop") or {}
    if "sleep" in pre:
        return _num((pre["sleep"] or {}).get("seconds"))
    command = ((pre.get("exec") or {}).get("command")) or []
    found = [_num(x) for x in command if _num(x) is not None]
    return found[-1] if "sleep" in " ".join(map(str, command)) and found else None


@rule("MLI-K8S-011", "medium", "preStop sleep shorter than terminationGracePeriodSeconds", DEPLOYMENT)
def _prestop(res: Resource, g: Graph) -> list[str]:
    grace = _num(pod_spec(res).get("terminationGracePeriodSeconds", 30)) or 30
    out = []
    for c in containers(res):
        sleep = _prestop_seconds(c)
        if sleep is None:
            out.append(f"container {c.get('name')} has no preStop sleep; "
                       "the load balancer still routes to a pod that stops")
        elif sleep >= grace:
            out.append(f"container {c.get('name')}: preStop sleep {sleep:g}s >= "
                       f"terminationGracePeriodSeconds {grace:g}s")
    return out


@rule("MLI-K8S-012", "medium", "a PodDisruptionBudget covers the Deployment", DEPLOYMENT)
def _pdb(res: Resource, g: Graph) -> list[str]:
    labels = (((inputs(res).get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    ok = any(_same_ns(p, res) and _selects((inputs(p).get("spec") or {}).get("selector") or {}, labels)
             for p in g.of_type(PDB))
    return [] if ok else ["no PodDisruptionBudget selects these pods; a node drain can take every replica at once"]


@rule("MLI-K8S-013", "medium", "a NetworkPolicy selects the pods", DEPLOYMENT)
def _netpol(res: Resource, g: Graph) -> list[str]:
    labels = (((inputs(res).get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    ok = any(_same_ns(p, res) and _selects((inputs(p).get("spec") or {}).get("podSelector") or {}, labels)
             for p in g.of_type(NETPOL))
    return [] if ok else ["no NetworkPolicy selects these pods; any pod in the cluster can reach them"]


@rule("MLI-K8S-014", "low", "pods spread across availability zones", DEPLOYMENT)
def _spread(res: Resource, g: Graph) -> list[str]:
    keys = {t.get("topologyKey") for t in pod_spec(res).get("topologySpreadConstraints") or []}
    return [] if "topology.kubernetes.io/zone" in keys else ["no topology spread across zones"]


@rule("MLI-SEC-001", "critical", "Kubernetes Secret values are Pulumi secrets", K8S_SECRET)
def _secret_values(res: Resource, g: Graph) -> list[str]:
    plain: list[str] = []
    for field in ("stringData", "data"):
        value = inputs(res).get(field)
        if isinstance(value, dict):  # a whole-map secret arrives as the mask string instead
            plain += [k for k, v in value.items() if v != "[secret]"]
    plain.sort()
    return [f"keys {', '.join(plain)} are stored in plain text in the Pulumi state"] if plain else []


def _literal_secret_envs(envs: list[dict[str, Any]]) -> list[str]:
    return sorted(str(e.get("name")) for e in envs
                  if SECRETISH.search(str(e.get("name", ""))) and not SECRET_REFERENCE.search(str(e.get("name", "")))
                  and "value" in e and not str(e.get("value", "")).startswith("arn:"))


@rule("MLI-SEC-002", "high", "no secret values in plain environment variables", DEPLOYMENT, ECS_TASK)
def _env_secrets(res: Resource, g: Graph) -> list[str]:
    found = containers(res) if res["type"] == DEPLOYMENT else iter(ecs_containers(res))
    return [f"container {c.get('name')}: {name} holds a literal value; pass it by secret reference (valueFrom / file)"
            for c in found for name in _literal_secret_envs(c.get("env") or c.get("environment") or [])]


# ---------------------------------------------------------------- images, cluster, nodes

@rule("MLI-ECR-001", "high", "ECR tags are immutable", ECR_REPO)
def _immutable(res: Resource, g: Graph) -> list[str]:
    return [] if inputs(res).get("imageTagMutability") == "IMMUTABLE" else ["imageTagMutability must be IMMUTABLE"]


@rule("MLI-ECR-002", "medium", "ECR scans images on push", ECR_REPO)
def _scan(res: Resource, g: Graph) -> list[str]:
    ok = (inputs(res).get("imageScanningConfiguration") or {}).get("scanOnPush") is True
    return [] if ok else ["imageScanningConfiguration.scanOnPush must be true"]


@rule("MLI-ECR-003", "medium", "ECR repositories are KMS-encrypted", ECR_REPO)
def _ecr_kms(res: Resource, g: Graph) -> list[str]:
    ok = any(c.get("encryptionType") == "KMS" for c in inputs(res).get("encryptionConfigurations") or [])
    return [] if ok else ["encryptionConfigurations must use KMS"]


@rule("MLI-ECR-004", "low", "ECR repositories have a lifecycle policy", ECR_REPO)
def _lifecycle(res: Resource, g: Graph) -> list[str]:
    return [] if g.dependents(res, ECR_LIFECYCLE) else ["no lifecycle policy; old images accumulate forever"]


@rule("MLI-EKS-001", "medium", "EKS control-plane logging is on", "aws:eks/cluster:Cluster")
def _cp_logs(res: Resource, g: Graph) -> list[str]:
    missing = {"api", "audit", "authenticator"} - set(inputs(res).get("enabledClusterLogTypes") or [])
    return [f"enabledClusterLogTypes lacks {', '.join(sorted(missing))}"] if missing else []


@rule("MLI-EKS-002", "high", "EKS secrets are envelope-encrypted with KMS", "aws:eks/cluster:Cluster")
def _envelope(res: Resource, g: Graph) -> list[str]:
    enc = inputs(res).get("encryptionConfig") or {}
    return [] if "secrets" in (enc.get("resources") or []) else ["encryptionConfig must cover `secrets`"]


@rule("MLI-EKS-003", "high", "EKS API endpoint is private or CIDR-restricted", "aws:eks/cluster:Cluster")
def _endpoint(res: Resource, g: Graph) -> list[str]:
    vpc = inputs(res).get("vpcConfig") or {}
    if vpc.get("endpointPublicAccess") is False:
        return []
    cidrs = vpc.get("publicAccessCidrs") or []
    if not cidrs or any(c in ("0.0.0.0/0", "::/0") for c in cidrs):
        return ["the public API endpoint is open to the internet; set mlinfra:eks.deployerCidrs or make it private"]
    return []


@rule("MLI-EKS-004", "high", "nodes require IMDSv2 with hop limit 1", LAUNCH_TEMPLATE)
def _imds(res: Resource, g: Graph) -> list[str]:
    md = inputs(res).get("metadataOptions") or {}
    out = [] if md.get("httpTokens") == "required" else ["metadataOptions.httpTokens must be `required` (IMDSv2)"]
    if _num(md.get("httpPutResponseHopLimit")) != 1:
        out.append("metadataOptions.httpPutResponseHopLimit must be 1 so pods cannot use the node's role")
    return out


def _is_gpu_group(res: Resource) -> bool:
    types = inputs(res).get("instanceTypes") or []
    return "NVIDIA" in str(inputs(res).get("amiType", "")) or any(str(t).split(".")[0] in GPU_FAMILIES for t in types)


@rule("MLI-EKS-005", "medium", "GPU nodes are tainted", NODE_GROUP)
def _gpu_taint(res: Resource, g: Graph) -> list[str]:
    if not _is_gpu_group(res):
        return []
    ok = any(t.get("key") == "nvidia.com/gpu" and t.get("effect") == "NO_SCHEDULE"
             for t in inputs(res).get("taints") or [])
    return [] if ok else ["GPU node group without the nvidia.com/gpu NoSchedule taint; CPU pods will fill GPU nodes"]


@rule("MLI-EKS-006", "high", "the NVIDIA device plugin runs where GPU nodes exist", NODE_GROUP)
def _device_plugin(res: Resource, g: Graph) -> list[str]:
    if not _is_gpu_group(res):
        return []
    ok = any(inputs(r).get("chart") == "nvidia-device-plugin" for r in g.of_type(HELM_RELEASE))
    return [] if ok else ["GPU node group but no nvidia-device-plugin release; pods cannot request nvidia.com/gpu"]


@rule("MLI-LOG-001", "low", "log groups have a retention period", "aws:cloudwatch/logGroup:LogGroup")
def _retention(res: Resource, g: Graph) -> list[str]:
    if _num(inputs(res).get("retentionInDays")):
        return []
    return ["retentionInDays is unset: logs are kept (and billed) forever"]


# ---------------------------------------------------------------- exposure and load balancers

def _ingress_deployments(ing: Resource, g: Graph) -> list[Resource]:
    names = {((p.get("backend") or {}).get("service") or {}).get("name")
             for rule_ in (inputs(ing).get("spec") or {}).get("rules") or []
             for p in (rule_.get("http") or {}).get("paths") or []}
    return [d for d in g.of_type(DEPLOYMENT) if _same_ns(d, ing) and meta(d).get("name") in names]


def _api_key_auth(deployments: list[Resource]) -> bool:
    return bool(deployments) and all(API_KEYS_ENV in _env(c) for d in deployments for c in containers(d))


@rule("MLI-NET-001", "critical", "internet-facing endpoints require authentication", INGRESS, *LOAD_BALANCERS)
def _public_auth(res: Resource, g: Graph) -> list[str]:
    if res["type"] == INGRESS:
        if _annotations(res).get(ANN + "scheme", "internal") != "internet-facing":
            return []
        alb_auth = _annotations(res).get(ANN + "auth-type") in ("oidc", "cognito")
        if alb_auth or _api_key_auth(_ingress_deployments(res, g)):
            return []
        return ["internet-facing without an ALB authenticate action (oidc/cognito) or the runtime's API-key check"]
    if inputs(res).get("internal") is not False:
        return []
    listeners = g.dependents(res, *LISTENERS)
    actions = [a for lst in listeners for a in inputs(lst).get("defaultActions") or []]
    if any(str(a.get("type", "")).startswith("authenticate-") for a in actions):
        return []
    tasks = g.of_type(ECS_TASK)
    keyed = [t for t in tasks if t.get("service") == res.get("service")]
    if keyed and all(any(e.get("name") == API_KEYS_ENV
                         for e in [*(c.get("environment") or []), *(c.get("secrets") or [])])
                     for t in keyed for c in ecs_containers(t)):
        return []
    return ["internet-facing load balancer without authentication (authenticate action or runtime API keys)"]


@rule("MLI-ALB-001", "high", "HTTPS with a modern TLS policy; HTTP only redirects", INGRESS, *LISTENERS)
def _tls(res: Resource, g: Graph) -> list[str]:
    if res["type"] == INGRESS:
        ann = _annotations(res)
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
        ok = actions and all(a.get("type") == "redirect" and (a.get("redirect") or {}).get("protocol") == "HTTPS"
                             for a in actions)
        return [] if ok else ["HTTP listener must only redirect to HTTPS"]
    return []


@rule("MLI-ALB-002", "medium", "the ALB drops invalid header fields", INGRESS, *LOAD_BALANCERS)
def _drop_headers(res: Resource, g: Graph) -> list[str]:
    if res["type"] == INGRESS:
        ok = _alb_attributes(res).get("routing.http.drop_invalid_header_fields.enabled") == "true"
    else:
        ok = inputs(res).get("loadBalancerType", "application") != "application" or \
            inputs(res).get("dropInvalidHeaderFields") is True
    return [] if ok else ["drop_invalid_header_fields must be enabled (request smuggling)"]


@rule("MLI-ALB-003", "medium", "app keep-alive is longer than the ALB idle timeout", INGRESS)
def _keepalive(res: Resource, g: Graph) -> list[str]:
    idle = _num(_alb_attributes(res).get("idle_timeout.timeout_seconds", 60)) or 60
    out = []
    for d in _ingress_deployments(res, g):
        for c in containers(d):
            keep = _num((_env(c).get(KEEPALIVE_TIMEOUT_S_ENV) or {}).get("value"))
            if keep is None or keep <= idle:
                out.append(f"{meta(d).get('name')}: keep-alive {keep if keep is not None else 'unset'} <= ALB idle "
                           f"timeout {idle:g}s; the server may close a connection the ALB is reusing (502s)")
    return out


# ---------------------------------------------------------------- IAM

def _statements(res: Resource) -> list[dict[str, Any]]:
    raw = inputs(res).get("policy")
    try:
        doc = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        return []
    statements = (doc or {}).get("Statement") if isinstance(doc, dict) else None
    if isinstance(statements, dict):
        return [statements]
    return statements if isinstance(statements, list) else []


def _as_list(v: Any) -> list[str]:
    return [str(x) for x in v] if isinstance(v, list) else [str(v)] if v is not None else []


IAM_POLICIES = ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy")


@rule("MLI-IAM-001", "high", "no wildcard IAM actions", *IAM_POLICIES)
def _wild_actions(res: Resource, g: Graph) -> list[str]:
    return [f"statement {s.get('Sid', i)} allows {a}" for i, s in enumerate(_statements(res))
            if s.get("Effect") == "Allow" for a in _as_list(s.get("Action")) if a == "*" or a.endswith(":*")]


@rule("MLI-IAM-002", "high", "S3 model reads are scoped to a bucket prefix", *IAM_POLICIES)
def _s3_scope(res: Resource, g: Graph) -> list[str]:
    out = []
    for s in _statements(res):
        if s.get("Effect") != "Allow" or not any(a.startswith("s3:") for a in _as_list(s.get("Action"))):
            continue
        out += [f"S3 access on {r}; grant s3:GetObject on bucket/prefix/* only" for r in _as_list(s.get("Resource"))
                if r in ("*", "arn:aws:s3:::*")]
    return out


# ---------------------------------------------------------------- ECS

@rule("MLI-ECS-001", "high", "deployments roll back through the circuit breaker", ECS_SERVICE)
def _breaker(res: Resource, g: Graph) -> list[str]:
    cb = inputs(res).get("deploymentCircuitBreaker") or {}
    return [] if cb.get("enable") is True and cb.get("rollback") is True else \
        ["deploymentCircuitBreaker must enable rollback"]


@rule("MLI-ECS-002", "medium", "health-check grace period covers model load time", ECS_SERVICE)
def _grace(res: Resource, g: Graph) -> list[str]:
    if not inputs(res).get("loadBalancers"):
        return []
    return [] if (_num(inputs(res).get("healthCheckGracePeriodSeconds")) or 0) >= 30 else \
        ["healthCheckGracePeriodSeconds must cover model download and warm-up (>= 30 s)"]


@rule("MLI-ECS-003", "high", "containers run non-root on a read-only root filesystem", ECS_TASK)
def _ecs_container(res: Resource, g: Graph) -> list[str]:
    out = []
    for c in ecs_containers(res):
        if c.get("readonlyRootFilesystem") is not True:
            out.append(f"container {c.get('name')} must set readonlyRootFilesystem")
        user = str(c.get("user", ""))
        if not user or user.split(":")[0] in ("0", "root"):
            out.append(f"container {c.get('name')} must run as a numeric non-root user")
    return out


@rule("MLI-ECS-004", "high", "task role is separate from the execution role", ECS_TASK)
def _roles(res: Resource, g: Graph) -> list[str]:
    task, execution = inputs(res).get("taskRoleArn"), inputs(res).get("executionRoleArn")
    if not task or not execution:
        return ["both taskRoleArn and executionRoleArn must be set"]
    return ["the task role must not be the execution role"] if task == execution else []


@rule("MLI-ECS-005", "medium", "containers log to CloudWatch (awslogs)", ECS_TASK)
def _awslogs(res: Resource, g: Graph) -> list[str]:
    return [f"container {c.get('name')} has no awslogs logConfiguration" for c in ecs_containers(res)
            if (c.get("logConfiguration") or {}).get("logDriver") != "awslogs"]


@rule("MLI-ECS-006", "low", "Container Insights is on", ECS_CLUSTER)
def _insights(res: Resource, g: Graph) -> list[str]:
    settings = {s.get("name"): s.get("value") for s in inputs(res).get("settings") or []}
    return [] if settings.get("containerInsights") in ("enabled", "enhanced") else ["containerInsights is not enabled"]


# ---------------------------------------------------------------- production

@rule("MLI-PROD-001", "high", "production runs at least 2 replicas", HPA, DEPLOYMENT, ECS_SERVICE, SCALING_TARGET,
      prod_only=True)
def _ha(res: Resource, g: Graph) -> list[str]:
    i = inputs(res)
    if res["type"] == HPA:
        low = _num((i.get("spec") or {}).get("minReplicas", 1))
        return [] if (low or 0) >= 2 else [f"HPA minReplicas {low:g} < 2 in prod"]
    if res["type"] == DEPLOYMENT:
        if hpa_for(res, g) is not None:
            return []
        n = _num((i.get("spec") or {}).get("replicas", 1)) or 1
        return [] if n >= 2 else [f"replicas {n:g} < 2 in prod"]
    if res["type"] == SCALING_TARGET:
        if "ecs:service" not in str(i.get("scalableDimension", "")):
            return []
        low = _num(i.get("minCapacity")) or 0
        return [] if low >= 2 else [f"minCapacity {low:g} < 2 in prod"]
    n = _num(i.get("desiredCount", 1)) or 0
    return [] if n >= 2 or g.dependents(res, SCALING_TARGET) else [f"desiredCount {n:g} < 2 in prod"]


@rule("MLI-PROD-002", "high", "production load balancers have deletion protection", INGRESS, *LOAD_BALANCERS,
      prod_only=True)
def _deletion(res: Resource, g: Graph) -> list[str]:
    if res["type"] == INGRESS:
        ok = _alb_attributes(res).get("deletion_protection.enabled") == "true"
    else:
        ok = inputs(res).get("enableDeletionProtection") is True
    return [] if ok else ["deletion protection is off in prod"]
