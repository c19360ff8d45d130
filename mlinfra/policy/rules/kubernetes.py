"""Kubernetes workloads and their secrets (MLI-K8S-*, MLI-SEC-*)."""

from __future__ import annotations

from mlinfra.policy.registry import Graph, Resource, rule
from mlinfra.policy.wire import (
    DEPLOYMENT,
    ECS_TASK,
    HELM_RELEASE,
    HPA,
    INGRESS,
    K8S_SECRET,
    NETPOL,
    PDB,
    SCALED_OBJECT,
    SERVICE_ACCOUNT,
    annotations_of,
    containers,
    ecs_containers,
    inputs,
    literal_secret_envs,
    meta,
    number,
    pod_spec,
    prestop_seconds,
    same_ns,
    scaler_for,
    security_context_value,
    selects,
)


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
        uid = number(security_context_value(c, pod, "runAsUser"))
        if security_context_value(c, pod, "runAsNonRoot") is not True or uid is None or uid <= 0:
            out.append(f"container {c.get('name')} needs runAsNonRoot: true and a numeric runAsUser > 0")
    return out


@rule("MLI-K8S-004", "high", "privilege escalation is off", DEPLOYMENT)
def _no_escalation(res: Resource, g: Graph) -> list[str]:
    return [
        f"container {c.get('name')} must set allowPrivilegeEscalation: false"
        for c in containers(res)
        if (c.get("securityContext") or {}).get("allowPrivilegeEscalation") is not False
    ]


@rule("MLI-K8S-005", "high", "all Linux capabilities are dropped", DEPLOYMENT)
def _drop_all(res: Resource, g: Graph) -> list[str]:
    return [
        f"container {c.get('name')} must drop ALL capabilities"
        for c in containers(res)
        if "ALL" not in (((c.get("securityContext") or {}).get("capabilities") or {}).get("drop") or [])
    ]


@rule("MLI-K8S-006", "medium", "seccomp profile is RuntimeDefault", DEPLOYMENT)
def _seccomp(res: Resource, g: Graph) -> list[str]:
    pod = pod_spec(res)
    return [
        f"container {c.get('name')} must use seccompProfile RuntimeDefault"
        for c in containers(res)
        if (security_context_value(c, pod, "seccompProfile") or {}).get("type") != "RuntimeDefault"
    ]


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
    accounts = [sa for sa in g.of_type(SERVICE_ACCOUNT) if same_ns(sa, res) and meta(sa).get("name") == name]
    if name and name != "default" and not any("eks.amazonaws.com/role-arn" in annotations_of(sa) for sa in accounts):
        out.append(f"service account {name} has no IRSA role (eks.amazonaws.com/role-arn annotation)")
    return out


@rule(
    "MLI-K8S-009",
    "medium",
    "namespaced objects are not in the default namespace",
    DEPLOYMENT,
    HPA,
    SCALED_OBJECT,
    PDB,
    NETPOL,
    INGRESS,
    SERVICE_ACCOUNT,
    K8S_SECRET,
    "kubernetes:core/v1:Service",
    "kubernetes:monitoring.coreos.com/v1:ServiceMonitor",
    "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
    "kubernetes:argoproj.io/v1alpha1:Rollout",
    "kubernetes:argoproj.io/v1alpha1:AnalysisTemplate",
    HELM_RELEASE,
)
def _namespace(res: Resource, g: Graph) -> list[str]:
    ns = inputs(res).get("namespace") if res["type"] == HELM_RELEASE else meta(res).get("namespace")
    return [] if ns and ns != "default" else [f"{res['type'].rsplit(':', 1)[-1]} is in the default namespace"]


@rule("MLI-K8S-010", "medium", "no static replicas on an autoscaled Deployment", DEPLOYMENT)
def _static_replicas(res: Resource, g: Graph) -> list[str]:
    scaler = scaler_for(res, g)
    if scaler is not None and "replicas" in (inputs(res).get("spec") or {}):
        kind = scaler["type"].rsplit(":", 1)[-1]
        return [f"spec.replicas is set although a {kind} owns the count; every deploy resets the autoscaler"]
    return []


@rule("MLI-K8S-011", "medium", "preStop sleep shorter than terminationGracePeriodSeconds", DEPLOYMENT)
def _prestop(res: Resource, g: Graph) -> list[str]:
    grace = number(pod_spec(res).get("terminationGracePeriodSeconds", 30)) or 30
    out = []
    for c in containers(res):
        sleep = prestop_seconds(c)
        if sleep is None:
            out.append(
                f"container {c.get('name')} has no preStop sleep; the load balancer still routes to a pod that stops"
            )
        elif sleep >= grace:
            out.append(
                f"container {c.get('name')}: preStop sleep {sleep:g}s >= terminationGracePeriodSeconds {grace:g}s"
            )
    return out


@rule("MLI-K8S-012", "medium", "a PodDisruptionBudget covers the Deployment", DEPLOYMENT)
def _pdb(res: Resource, g: Graph) -> list[str]:
    labels = (((inputs(res).get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    ok = any(
        same_ns(p, res) and selects((inputs(p).get("spec") or {}).get("selector") or {}, labels) for p in g.of_type(PDB)
    )
    return [] if ok else ["no PodDisruptionBudget selects these pods; a node drain can take every replica at once"]


@rule("MLI-K8S-013", "medium", "a NetworkPolicy selects the pods", DEPLOYMENT)
def _netpol(res: Resource, g: Graph) -> list[str]:
    labels = (((inputs(res).get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    ok = any(
        same_ns(p, res) and selects((inputs(p).get("spec") or {}).get("podSelector") or {}, labels)
        for p in g.of_type(NETPOL)
    )
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


@rule("MLI-SEC-002", "high", "no secret values in plain environment variables", DEPLOYMENT, ECS_TASK)
def _env_secrets(res: Resource, g: Graph) -> list[str]:
    found = containers(res) if res["type"] == DEPLOYMENT else iter(ecs_containers(res))
    return [
        f"container {c.get('name')}: {name} holds a literal value; pass it by secret reference (valueFrom / file)"
        for c in found
        for name in literal_secret_envs(c.get("env") or c.get("environment") or [])
    ]
