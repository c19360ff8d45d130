"""One model on EKS: identity, workload, exposure, scaling, disruption budget, monitoring."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from mlinfra.components.addons import PROMETHEUS_ADDRESS
from mlinfra.components.base import TOKEN_PREFIX, child, tags
from mlinfra.components.contract import TLS_POLICY, namespace, runtime_env
from mlinfra.components.eks_cluster import GPU_TAINT_KEY, GPU_TYPE_LABEL
from mlinfra.components.irsa import irsa_trust_policy
from mlinfra.components.k8s_rollout import (
    METRICS_SERVICE_LABEL,
    POD_TEMPLATE_HASH,
    ROLLOUT_API_VERSION,
    action_annotation,
    analysis_template_spec,
    canary_service,
    forward_action,
    metrics_service,
    progressive,
    rollout_spec,
    rollout_workload,
)
from mlinfra.components.k8s_scaling import (
    SCALED_OBJECT_API_VERSION,
    SCALED_OBJECT_KIND,
    scale_target_ref,
    scaled_object_spec,
)
from mlinfra.components.k8s_traffic import (
    READINESS_GATE_LABEL,
    default_deny_policy,
    source_ip_conditions,
    timings,
)
from mlinfra.components.k8s_traffic import (
    service_policy as network_policy,
)
from mlinfra.components.policies import service_policy
from mlinfra.monitoring.alerts import rule_groups
from mlinfra.serving.contract import (
    API_KEYS_ENV,
    API_KEYS_SECRET,
    DRAIN_TIMEOUT_S_ENV,
    HEALTH_PATH,
    METRICS_PATH,
    READY_PATH,
    RUN_AS_UID,
    secret_arn_env,
)
from mlinfra.spec.quantities import format_cpu, format_memory
from mlinfra.spec.service import ServiceSpec

SECRETS_MOUNT = "/var/run/secrets/mlinfra"
# The service's workload (apiVersion, kind), which its ScaledObject scales.
WORKLOAD = ("apps/v1", "Deployment")
LEGACY_HPA_TYPE = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
# The ALB closes idle connections after 60 s; the runtime keeps them longer (see
# `serving.contract.keepalive_timeout_s`), so the ALB, not the server, always closes first.
ALB_IDLE_TIMEOUT_SECONDS = 60
PROBE_PERIOD_SECONDS = 5


class ClusterRef(Protocol):
    """What a service needs of the cluster it runs on. `EksCluster` is one; so is any object
    with these three attributes over a cluster created elsewhere (e.g. a `pulumi_eks.Cluster`)."""

    @property
    def provider(self) -> k8s.Provider:
        """Kubernetes provider for the cluster."""
        ...

    @property
    def oidc_provider_arn(self) -> pulumi.Input[str]:
        """ARN of the cluster's IAM OIDC provider (IRSA)."""
        ...

    @property
    def oidc_issuer(self) -> pulumi.Input[str]:
        """The OIDC issuer without `https://` (`oidc.eks.<region>.amazonaws.com/id/<id>`)."""
        ...


@dataclass(frozen=True)
class KubernetesServiceArgs:
    """What one service needs, and nothing of mlinfra's stack layout: a program of your own
    fills these from its own config (see `examples/existing-cluster/`)."""

    stack: str
    """Stack name: labels, tags and the ALB group (`mlinfra-<stack>-public|internal`)."""
    spec: ServiceSpec
    cluster: ClusterRef
    image_ref: pulumi.Input[str]
    """Image to run, by digest (`<repo>@sha256:...`)."""
    domain: str
    """The service answers at `<service>.<domain>`."""
    certificate_arn: pulumi.Input[str]
    """ACM certificate of the HTTPS listener (it must cover `<service>.<domain>`)."""
    load_balancer_cidrs: list[str]
    """Where the cluster's ALBs sit: the only sources the NetworkPolicy admits besides Prometheus."""
    access_logs_bucket: pulumi.Input[str]
    """Bucket the ALB writes access logs to (its policy admits `AWSLogs/<account>/`)."""
    production: bool = False
    """Production ALBs carry deletion protection."""
    secret_arns: Mapping[str, str] = field(default_factory=dict)
    """Existing Secrets Manager secrets by name; the pod's role may read those in `spec.secrets`."""
    secret_values: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Values of secrets by name, stored as a Kubernetes Secret mounted as files."""
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    prometheus_address: str = PROMETHEUS_ADDRESS
    """The Prometheus KEDA queries for an autoscaled service (the cluster must run KEDA): by
    default the one mlinfra's EKS platform installs."""


def deployment_replicas(spec: ServiceSpec) -> dict[str, int]:
    """`replicas` when the count is fixed; none when KEDA's HPA owns it (a static value would
    reset the autoscaler on every `pulumi up`)."""
    return {} if spec.autoscaling is not None else {"replicas": spec.replicas}


def labels_for(spec: ServiceSpec) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": spec.name,
        "app.kubernetes.io/part-of": "mlinfra",
        "app.kubernetes.io/component": "model-server",
    }


def termination_grace_seconds(spec: ServiceSpec) -> int:
    return timings(spec).termination_grace


def pod_spec(
    spec: ServiceSpec,
    image: pulumi.Input[str],
    service_account: str,
    k8s_secret: str | None,
    secret_arns: dict[str, str],
) -> dict[str, object]:
    """The hardened pod template spec (docs/architecture.md, "Secure defaults")."""
    resources: dict[str, dict[str, str]] = {
        "requests": {"cpu": format_cpu(spec.cpu), "memory": format_memory(spec.memory)},
        "limits": {"cpu": format_cpu(spec.cpu), "memory": format_memory(spec.memory)},
    }
    volumes: list[dict[str, object]] = [{"name": "tmp", "emptyDir": {"sizeLimit": "4Gi" if spec.gpu else "2Gi"}}]
    mounts: list[dict[str, object]] = [{"name": "tmp", "mountPath": "/tmp"}]
    if k8s_secret is not None:
        volumes.append({"name": "secrets", "secret": {"secretName": k8s_secret, "defaultMode": 0o400}})
        mounts.append({"name": "secrets", "mountPath": SECRETS_MOUNT, "readOnly": True})
    settings_env = {
        **runtime_env(spec, alb_idle_timeout_s=ALB_IDLE_TIMEOUT_SECONDS),
        # Drain after SIGTERM as long as the longest request the service allows.
        DRAIN_TIMEOUT_S_ENV: str(timings(spec).drain),
    }
    env: list[dict[str, object]] = [{"name": k, "value": v} for k, v in sorted(settings_env.items())]
    env += [{"name": secret_arn_env(n), "value": arn} for n, arn in sorted(secret_arns.items())]
    if spec.auth == "api_key" and k8s_secret is not None and API_KEYS_SECRET not in secret_arns:
        # The runtime reads its API keys from this one variable; a secretKeyRef keeps the value
        # out of the manifest.
        env.append({"name": API_KEYS_ENV, "valueFrom": {"secretKeyRef": {"name": k8s_secret, "key": API_KEYS_SECRET}}})
    startup_failures = math.ceil(spec.expected_load_seconds / PROBE_PERIOD_SECONDS) + 6
    container: dict[str, object] = {
        "name": "model",
        "image": image,
        "imagePullPolicy": "Always",
        "ports": [{"name": "http", "containerPort": spec.port, "protocol": "TCP"}],
        "env": env,
        "resources": resources,
        # Startup covers model download + warm-up; readiness gates traffic; liveness only
        # restarts a wedged process, on a different endpoint and a slower cadence.
        "startupProbe": {
            "httpGet": {"path": READY_PATH, "port": "http"},
            "periodSeconds": PROBE_PERIOD_SECONDS,
            "timeoutSeconds": 2,
            "failureThreshold": startup_failures,
        },
        "readinessProbe": {
            "httpGet": {"path": READY_PATH, "port": "http"},
            "periodSeconds": PROBE_PERIOD_SECONDS,
            "timeoutSeconds": 2,
            "failureThreshold": 2,
        },
        "livenessProbe": {
            "httpGet": {"path": HEALTH_PATH, "port": "http"},
            "periodSeconds": 10,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
        "lifecycle": {"preStop": {"sleep": {"seconds": timings(spec).pre_stop}}},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_UID,
            "runAsGroup": RUN_AS_UID,
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": mounts,
    }
    pod: dict[str, object] = {
        "serviceAccountName": service_account,
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": termination_grace_seconds(spec),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_UID,
            "runAsGroup": RUN_AS_UID,
            "fsGroup": RUN_AS_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": volumes,
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": labels_for(spec)},
            },
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": labels_for(spec)},
            },
        ],
    }
    if spec.gpu_type is not None:
        resources["limits"]["nvidia.com/gpu"] = str(spec.gpu_count)
        resources["requests"]["nvidia.com/gpu"] = str(spec.gpu_count)
        pod["tolerations"] = [{"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]
        pod["nodeSelector"] = {GPU_TYPE_LABEL: spec.gpu_type}
    return pod


def ingress_annotations(
    spec: ServiceSpec,
    stack: str,
    certificate_arn: pulumi.Input[str],
    access_logs_bucket: pulumi.Input[str],
    production: bool,
) -> dict[str, pulumi.Input[str]]:
    attributes = [
        f"idle_timeout.timeout_seconds={ALB_IDLE_TIMEOUT_SECONDS}",
        "routing.http.drop_invalid_header_fields.enabled=true",
        "routing.http.desync_mitigation_mode=defensive",
    ]
    if production:
        attributes.append("deletion_protection.enabled=true")
    annotations: dict[str, pulumi.Input[str]] = {
        "alb.ingress.kubernetes.io/scheme": "internet-facing" if spec.public else "internal",
        "alb.ingress.kubernetes.io/target-type": "ip",
        # Internal and internet-facing services never share a load balancer.
        "alb.ingress.kubernetes.io/group.name": f"mlinfra-{stack}-{'public' if spec.public else 'internal'}",
        "alb.ingress.kubernetes.io/listen-ports": json.dumps([{"HTTP": 80}, {"HTTPS": 443}]),
        "alb.ingress.kubernetes.io/ssl-redirect": "443",
        "alb.ingress.kubernetes.io/certificate-arn": certificate_arn,
        "alb.ingress.kubernetes.io/ssl-policy": TLS_POLICY,
        "alb.ingress.kubernetes.io/healthcheck-path": READY_PATH,
        "alb.ingress.kubernetes.io/success-codes": "200",
        # No log prefix: the bucket policy admits delivery under AWSLogs/<account>/ only.
        "alb.ingress.kubernetes.io/load-balancer-attributes": pulumi.Output.concat(
            ",".join(attributes), ",access_logs.s3.enabled=true,access_logs.s3.bucket=", access_logs_bucket
        ),
        "alb.ingress.kubernetes.io/target-group-attributes": (
            f"deregistration_delay.timeout_seconds={timings(spec).deregistration_delay}"
        ),
        **source_ip_conditions(spec),
    }
    if progressive(spec):
        # Seeded at 100% stable so the load balancer controller never sees the rule's
        # `use-annotation` backend without its action; Argo rewrites the weights per step.
        annotations[action_annotation(spec)] = forward_action(spec)
    return dict(sorted(annotations.items()))


class KubernetesModelService(pulumi.ComponentResource):
    """Everything one model needs inside the cluster, hardened by default."""

    namespace: str
    """The service's own namespace (never `default`)."""
    role_arn: pulumi.Output[str]
    """IAM role the pods assume through IRSA."""
    hostname: str
    """`<service>.<domain>`: where the service answers behind the load balancer."""

    def __init__(self, name: str, args: KubernetesServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{TOKEN_PREFIX}KubernetesModelService", name, None, opts)
        spec = args.spec
        provider = args.cluster.provider
        k8s_opts = {"provider": provider}
        self.namespace = namespace(spec.name)
        self.hostname = f"{spec.name}.{args.domain}"
        labels = labels_for(spec)
        meta_labels = {**labels, "mlinfra.io/stack": args.stack}

        ns = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata={
                "name": self.namespace,
                "labels": {
                    **meta_labels,
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                    # The controller adds a readiness gate per pod: a rollout waits until the ALB
                    # reports the new pod healthy, so few-replica services never lose all targets.
                    READINESS_GATE_LABEL: "enabled",
                },
            },
            opts=child(self, **k8s_opts, depends_on=args.depends_on),
        )
        ns_opts = child(self, **k8s_opts, depends_on=[ns])

        def meta(obj_name: str, **extra: object) -> dict[str, object]:
            return {"name": obj_name, "namespace": self.namespace, "labels": meta_labels, **extra}

        secret_arns = {n: args.secret_arns[n] for n in spec.secrets if n in args.secret_arns}
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=irsa_trust_policy(
                args.cluster.oidc_provider_arn, args.cluster.oidc_issuer, self.namespace, spec.name
            ),
            tags=tags(args.stack, service=spec.name),
            opts=child(self),
        )
        policy = service_policy(spec, list(secret_arns.values()))
        if policy is not None:
            aws.iam.RolePolicy(
                f"{name}-policy", role=role.id, policy=json.dumps(policy, sort_keys=True), opts=child(self)
            )
        self.role_arn = role.arn
        k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=meta(spec.name, annotations={"eks.amazonaws.com/role-arn": role.arn}),
            automount_service_account_token=False,
            opts=ns_opts,
        )

        k8s_secret_names = [n for n in spec.secrets if n in args.secret_values]
        secret_name: str | None = None
        if k8s_secret_names:
            secret_name = f"{spec.name}-secrets"
            k8s.core.v1.Secret(
                f"{name}-secrets",
                metadata=meta(secret_name),
                type="Opaque",
                string_data={n: pulumi.Output.secret(args.secret_values.get(n, "")) for n in k8s_secret_names},
                opts=ns_opts,
            )

        k8s.apps.v1.Deployment(
            f"{name}-deployment",  # kind and apiVersion: WORKLOAD
            metadata=meta(spec.name),
            spec={
                # Under canary delivery the Rollout carries the count; Argo scales this to zero.
                **({} if progressive(spec) else deployment_replicas(spec)),
                "selector": {"matchLabels": labels},
                "revisionHistoryLimit": 5,
                "progressDeadlineSeconds": spec.expected_load_seconds + 600,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "template": {
                    "metadata": {"labels": meta_labels},
                    "spec": pod_spec(spec, args.image_ref, spec.name, secret_name, secret_arns),
                },
            },
            opts=ns_opts,
        )
        http_port = [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
        k8s.core.v1.Service(
            f"{name}-svc",
            metadata=meta(spec.name),
            spec={"type": "ClusterIP", "selector": labels, "ports": http_port},
            opts=ns_opts,
        )
        k8s.core.v1.Service(
            f"{name}-metrics-svc",
            metadata={**meta(metrics_service(spec)), "labels": {**meta_labels, METRICS_SERVICE_LABEL: "true"}},
            spec={"type": "ClusterIP", "selector": labels, "ports": http_port},
            opts=ns_opts,
        )
        ingress_opts = ns_opts
        if progressive(spec):
            # Argo points this one at the canary's pods during a release (the stable one, above,
            # at the stable version's); the ALB weighs the two. The Ingress's forward action
            # names it, so it exists first.
            canary = k8s.core.v1.Service(
                f"{name}-canary-svc",
                metadata=meta(canary_service(spec)),
                spec={"type": "ClusterIP", "selector": labels, "ports": http_port},
                opts=ns_opts,
            )
            ingress_opts = pulumi.ResourceOptions.merge(ns_opts, pulumi.ResourceOptions(depends_on=[canary]))
        ingress = k8s.networking.v1.Ingress(
            f"{name}-ingress",
            metadata=meta(
                spec.name,
                annotations=ingress_annotations(
                    spec, args.stack, args.certificate_arn, args.access_logs_bucket, args.production
                ),
            ),
            spec={
                "ingressClassName": "alb",
                "rules": [
                    {
                        "host": self.hostname,
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    # `use-annotation`: the forward action (stable/canary
                                    # weights) in the annotation named after this service.
                                    "backend": {
                                        "service": {
                                            "name": spec.name,
                                            "port": {"name": "use-annotation" if progressive(spec) else "http"},
                                        }
                                    },
                                }
                            ]
                        },
                    }
                ],
            },
            opts=ingress_opts,
        )
        if progressive(spec):
            self._rollout(name, spec, labels, meta, ns_opts, ingress, args.prometheus_address)
        if spec.autoscaling is not None:
            k8s.apiextensions.CustomResource(
                f"{name}-scaledobject",
                api_version=SCALED_OBJECT_API_VERSION,
                kind=SCALED_OBJECT_KIND,
                metadata=meta(spec.name),
                spec=scaled_object_spec(
                    spec,
                    self.namespace,
                    scale_target_ref(*rollout_workload(spec, WORKLOAD), spec.name),
                    args.prometheus_address,
                ),
                opts=pulumi.ResourceOptions.merge(
                    ns_opts,
                    pulumi.ResourceOptions(
                        # The ScaledObject replaces the HPA `<name>-hpa` of earlier versions. KEDA
                        # refuses a ScaledObject whose workload another HPA still scales, so the
                        # old HPA is deleted first: same resource (alias), replaced on the kind change.
                        aliases=[pulumi.Alias(type_=LEGACY_HPA_TYPE, name=f"{name}-hpa")],
                        replace_on_changes=["kind", "apiVersion"],
                        delete_before_replace=True,
                    ),
                ),
            )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=meta(spec.name),
            spec={"maxUnavailable": 1, "selector": {"matchLabels": labels}},
            opts=ns_opts,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata=meta("default-deny"),
            spec=default_deny_policy(self.namespace),
            opts=ns_opts,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol",
            metadata=meta(spec.name),
            spec=network_policy(spec, labels, args.load_balancer_cidrs),
            opts=ns_opts,
        )
        k8s.apiextensions.CustomResource(
            f"{name}-servicemonitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=meta(spec.name),
            spec={
                "selector": {"matchLabels": {**labels, METRICS_SERVICE_LABEL: "true"}},
                "endpoints": [{"port": "http", "path": METRICS_PATH, "interval": "30s"}],
                # Each series says which version (replica set) answered: the canary analysis
                # compares the two.
                "podTargetLabels": [POD_TEMPLATE_HASH],
            },
            opts=ns_opts,
        )
        k8s.apiextensions.CustomResource(
            f"{name}-rules",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=meta(spec.name),
            spec={"groups": rule_groups(spec.name, self.namespace, spec.gpu_type is not None, slo=spec.slo)},
            opts=ns_opts,
        )
        self.register_outputs({"namespace": self.namespace, "role_arn": self.role_arn, "hostname": self.hostname})

    def _rollout(
        self,
        name: str,
        spec: ServiceSpec,
        labels: dict[str, str],
        meta: Callable[..., dict[str, object]],
        opts: pulumi.ResourceOptions,
        ingress: k8s.networking.v1.Ingress,
        prometheus_address: str,
    ) -> None:
        """The AnalysisTemplate and the Rollout that releases the Deployment's pod template."""
        template = k8s.apiextensions.CustomResource(
            f"{name}-analysis",
            api_version=ROLLOUT_API_VERSION,
            kind="AnalysisTemplate",
            metadata=meta(spec.name),
            spec=analysis_template_spec(spec, prometheus_address),
            opts=opts,
        )
        k8s.apiextensions.CustomResource(
            f"{name}-rollout",
            api_version=ROLLOUT_API_VERSION,
            kind="Rollout",
            metadata=meta(spec.name),
            spec=rollout_spec(spec, labels, spec.name),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[template, ingress])),
        )
