"""Component tests: assert on the inputs the real program sends, recorded under Pulumi's mocks."""

from __future__ import annotations

import json

from mlinfra.engine.runner import OfflineRun
from tests.core.conftest import all_of, only


def _deployment(run: OfflineRun, service: str) -> dict:
    return only(run, "kubernetes:apps/v1:Deployment", f"{service}-deployment").inputs


def test_eks_cluster_is_hardened(staging: OfflineRun) -> None:
    cluster = only(staging, "aws:eks/cluster:Cluster").inputs
    assert cluster["version"] == "1.35"
    assert sorted(cluster["enabledClusterLogTypes"]) == [
        "api",
        "audit",
        "authenticator",
        "controllerManager",
        "scheduler",
    ]
    assert cluster["encryptionConfig"]["resources"] == ["secrets"]
    assert cluster["encryptionConfig"]["provider"]["keyArn"].startswith("arn:aws:kms:")
    assert cluster["vpcConfig"]["endpointPrivateAccess"] is True
    # Reachable by the deployer (stack's deployerCidrs) and nobody else.
    assert cluster["vpcConfig"]["endpointPublicAccess"] is True
    assert cluster["vpcConfig"]["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert only(staging, "aws:iam/openIdConnectProvider:OpenIdConnectProvider").inputs["clientIdLists"] == [
        "sts.amazonaws.com"
    ]


def test_gpu_node_group_uses_nvidia_ami_taint_and_imdsv2(staging: OfflineRun) -> None:
    group = only(staging, "aws:eks/nodeGroup:NodeGroup", "platform-eks-gpu-a10g").inputs
    assert group["amiType"] == "AL2023_x86_64_NVIDIA"
    assert group["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    assert group["labels"]["mlinfra.io/gpu-type"] == "a10g"
    assert group["instanceTypes"] == ["g5.xlarge"]
    for template in all_of(staging, "aws:ec2/launchTemplate:LaunchTemplate"):
        meta = template.inputs["metadataOptions"]
        assert meta == {"httpEndpoint": "enabled", "httpPutResponseHopLimit": 1, "httpTokens": "required"}
        assert template.inputs["blockDeviceMappings"][0]["ebs"]["encrypted"] == "true"


def test_helm_releases_are_pinned_upstream_charts(staging: OfflineRun) -> None:
    releases = {r.inputs["chart"]: r.inputs for r in all_of(staging, "kubernetes:helm.sh/v3:Release")}
    assert set(releases) == {
        "argo-rollouts",
        "aws-for-fluent-bit",
        "aws-load-balancer-controller",
        "dcgm-exporter",
        "keda",
        "kube-prometheus-stack",
        "metrics-server",
        "nvidia-device-plugin",
        "prometheus-operator-crds",
    }
    for chart in releases.values():
        assert chart["version"][0].isdigit(), chart
        assert chart["repositoryOpts"]["repo"].startswith("https://")
    lbc = releases["aws-load-balancer-controller"]["values"]["serviceAccount"]
    assert lbc["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")


def test_cpu_only_stack_installs_no_gpu_addons(project) -> None:  # type: ignore[no-untyped-def]
    from mlinfra.engine.runner import run_offline
    from tests.core.conftest import STACK_HEADER

    root = project(
        services={"a.py": 'from mlinfra import ModelService\nModelService("a", model_uri="s3://b-1/m/x.onnx")\n'},
        stacks={"s": STACK_HEADER},
    )
    run = run_offline(root, "s")
    charts = {r.inputs["chart"] for r in all_of(run, "kubernetes:helm.sh/v3:Release")}
    assert "nvidia-device-plugin" not in charts
    assert len(all_of(run, "aws:eks/nodeGroup:NodeGroup")) == 1


def test_ecr_repository_is_immutable_scanned_and_kms_encrypted(staging: OfflineRun) -> None:
    repo = only(staging, "aws:ecr/repository:Repository", "fraud-detector-repo").inputs
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["encryptionConfigurations"][0]["encryptionType"] == "KMS"
    policy = json.loads(
        only(staging, "aws:ecr/lifecyclePolicy:LifecyclePolicy", "fraud-detector-lifecycle").inputs["policy"]
    )
    assert {r["action"]["type"] for r in policy["rules"]} == {"expire"}


def test_image_is_built_from_generated_context_and_pinned_by_digest(staging: OfflineRun) -> None:
    image = only(staging, "docker:index/image:Image", "fraud-detector-image").inputs
    assert image["build"]["context"].endswith("fraud-detector")
    assert image["registry"]["password"] == "[secret]", "registry credentials must never be shown"
    container = _deployment(staging, "fraud-detector")["spec"]["template"]["spec"]["containers"][0]
    assert "@sha256:" in container["image"]


def test_deployment_is_hardened(staging: OfflineRun) -> None:
    dep = _deployment(staging, "fraud-detector")
    assert "replicas" not in dep["spec"], "KEDA's HPA owns the replica count"
    pod = dep["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "fraud-detector"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (c,) = pod["containers"]
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert isinstance(sc["runAsUser"], int)
    assert c["resources"]["requests"] == {"cpu": "1", "memory": "2Gi"}
    assert c["resources"]["limits"]["memory"] == "2Gi"
    assert c["readinessProbe"]["httpGet"]["path"] != c["livenessProbe"]["httpGet"]["path"]
    assert c["startupProbe"]["failureThreshold"] * c["startupProbe"]["periodSeconds"] >= 20
    assert c["lifecycle"]["preStop"]["sleep"]["seconds"] < pod["terminationGracePeriodSeconds"]
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    assert {s["topologyKey"] for s in pod["topologySpreadConstraints"]} == {
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    }
    assert dep["metadata"]["namespace"] == "ml-fraud-detector"
    assert not any(e["name"].lower().endswith(("key", "password", "token")) for e in c["env"])


def test_gpu_service_requests_gpu_tolerates_taint_and_selects_gpu_nodes(staging: OfflineRun) -> None:
    pod = _deployment(staging, "search-ranker")["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["nodeSelector"] == {"mlinfra.io/gpu-type": "a10g"}
    cpu_pod = _deployment(staging, "fraud-detector")["spec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in cpu_pod["containers"][0]["resources"]["limits"]
    assert "tolerations" not in cpu_pod


def test_irsa_role_reads_only_its_model_prefix(staging: OfflineRun) -> None:
    policy = json.loads(only(staging, "aws:iam/rolePolicy:RolePolicy", "fraud-detector-policy").inputs["policy"])
    assert policy["Statement"] == [
        {
            "Sid": "ReadOwnModel",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": ["arn:aws:s3:::acme-models/fraud/v12/*"],
        }
    ]
    trust = json.loads(only(staging, "aws:iam/role:Role", "fraud-detector-role").inputs["assumeRolePolicy"])
    (stmt,) = trust["Statement"]
    conditions = stmt["Condition"]["StringEquals"]
    assert any(
        k.endswith(":sub") and v == "system:serviceaccount:ml-fraud-detector:fraud-detector"
        for k, v in conditions.items()
    )
    assert stmt["Action"] == "sts:AssumeRoleWithWebIdentity"


def test_prod_secret_arn_is_the_only_secret_the_role_reads(prod: OfflineRun) -> None:
    policy = json.loads(only(prod, "aws:iam/rolePolicy:RolePolicy", "fraud-detector-policy").inputs["policy"])
    secrets = [s for s in policy["Statement"] if s["Sid"] == "ReadOwnSecrets"]
    assert secrets == [
        {
            "Sid": "ReadOwnSecrets",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": ["arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/fraud-api-key-AbCdEf"],
        }
    ]


def test_staging_secret_is_a_masked_kubernetes_secret_mounted_as_files(staging: OfflineRun) -> None:
    secret = only(staging, "kubernetes:core/v1:Secret", "fraud-detector-secrets").inputs
    assert secret["stringData"] == {"fraud-api-key": "[secret]"}
    assert secret["metadata"]["namespace"] == "ml-fraud-detector"
    pod = _deployment(staging, "fraud-detector")["spec"]["template"]["spec"]
    assert {"name": "secrets", "mountPath": "/var/run/secrets/mlinfra", "readOnly": True} in pod["containers"][0][
        "volumeMounts"
    ]


def test_ingress_is_internal_https_with_redirect_and_the_stack_certificate(staging: OfflineRun) -> None:
    ingress = only(staging, "kubernetes:networking.k8s.io/v1:Ingress", "fraud-detector-ingress").inputs
    ann = ingress["metadata"]["annotations"]
    assert ann["alb.ingress.kubernetes.io/scheme"] == "internal"
    assert ann["alb.ingress.kubernetes.io/ssl-redirect"] == "443"
    assert ann["alb.ingress.kubernetes.io/certificate-arn"].startswith("arn:aws:acm:us-east-1:")
    assert "drop_invalid_header_fields.enabled=true" in ann["alb.ingress.kubernetes.io/load-balancer-attributes"]
    assert ingress["spec"]["rules"][0]["host"] == "fraud-detector.staging.ml.acme.example"
    only(staging, "aws:s3/bucket:Bucket", "platform-alb-logs-bucket")
    attributes = ann["alb.ingress.kubernetes.io/load-balancer-attributes"]
    assert "access_logs.s3.enabled=true,access_logs.s3.bucket=platform-alb-logs-bucket-" in attributes
    assert only(staging, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs["restrictPublicBuckets"]


def test_prod_ingress_has_deletion_protection(prod: OfflineRun, staging: OfflineRun) -> None:
    key = "alb.ingress.kubernetes.io/load-balancer-attributes"
    ingress = only(prod, "kubernetes:networking.k8s.io/v1:Ingress", "fraud-detector-ingress").inputs
    assert "deletion_protection.enabled=true" in ingress["metadata"]["annotations"][key]
    staging_ing = only(staging, "kubernetes:networking.k8s.io/v1:Ingress", "fraud-detector-ingress").inputs
    assert "deletion_protection" not in staging_ing["metadata"]["annotations"][key]


def test_scaler_pdb_netpol_and_monitoring_per_service(staging: OfflineRun, prod: OfflineRun) -> None:
    scaler = only(prod, "kubernetes:keda.sh/v1alpha1:ScaledObject", "fraud-detector-scaledobject").inputs["spec"]
    assert (scaler["minReplicaCount"], scaler["maxReplicaCount"]) == (3, 12)
    [cpu] = [t for t in scaler["triggers"] if t["type"] == "cpu"]
    assert cpu["metadata"]["value"] == "60"
    assert (
        only(staging, "kubernetes:keda.sh/v1alpha1:ScaledObject", "fraud-detector-scaledobject").inputs["spec"][
            "minReplicaCount"
        ]
        == 1
    )
    # A fixed-size service has no scaler: its workload carries the count (under prod's canary
    # delivery the Rollout, which owns the pods; the Deployment it releases carries none).
    assert not [r for r in all_of(prod, "kubernetes:keda.sh/v1alpha1:ScaledObject") if "search-ranker" in r.name]
    rollout = only(prod, "kubernetes:argoproj.io/v1alpha1:Rollout", "search-ranker-rollout").inputs
    assert rollout["spec"]["replicas"] == 3
    assert "replicas" not in _deployment(prod, "search-ranker")["spec"]
    pdb = only(prod, "kubernetes:policy/v1:PodDisruptionBudget", "fraud-detector-pdb").inputs["spec"]
    assert pdb["maxUnavailable"] == 1
    netpol = only(prod, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "fraud-detector-netpol").inputs["spec"]
    assert netpol["policyTypes"] == ["Ingress", "Egress"]
    rules = only(prod, "kubernetes:monitoring.coreos.com/v1:PrometheusRule", "search-ranker-rules")
    alerts = {r["alert"] for g in rules.inputs["spec"]["groups"] for r in g["rules"]}
    assert alerts == {
        "MlinfraHighErrorRate",
        "MlinfraHighLatencyP99",
        "MlinfraUnavailable",
        "MlinfraPodRestarts",
        "MlinfraGpuSaturated",
        "MlinfraAvailabilityBudgetBurn",
        "MlinfraAvailabilityBudgetDrain",
        "MlinfraLatencyBudgetBurn",
        "MlinfraLatencyBudgetDrain",
    }
    cpu_rules = only(prod, "kubernetes:monitoring.coreos.com/v1:PrometheusRule", "fraud-detector-rules")
    assert "MlinfraGpuSaturated" not in {r["alert"] for g in cpu_rules.inputs["spec"]["groups"] for r in g["rules"]}
    monitor = only(prod, "kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "fraud-detector-servicemonitor")
    assert monitor.inputs["spec"]["endpoints"][0]["path"] == "/metrics"


def test_staging_and_prod_differ_in_replicas_nodes_and_nat(staging: OfflineRun, prod: OfflineRun) -> None:
    def gpu_types(run: OfflineRun) -> list[str]:
        return only(run, "aws:eks/nodeGroup:NodeGroup", "platform-eks-gpu-a10g").inputs["instanceTypes"]

    assert gpu_types(staging) == ["g5.xlarge"]
    assert gpu_types(prod) == ["g5.2xlarge"]
    assert len(all_of(staging, "aws:ec2/natGateway:NatGateway")) == 1
    assert len(all_of(prod, "aws:ec2/natGateway:NatGateway")) == 3


def test_children_are_parented_and_named_from_stable_keys(staging: OfflineRun) -> None:
    by_urn = {r.urn: r for r in staging.resources}
    for res in staging.resources:
        if res.type.startswith("pulumi:providers:"):
            continue
        assert res.parent, f"{res.name} has no parent"
        parent = by_urn.get(res.parent)
        if parent is not None:
            assert res.name.startswith(parent.name + "-") or parent.type.startswith("mlinfra:index:EksPlatform"), (
                res.name,
                parent.name,
            )
    subnets = sorted(r.name for r in all_of(staging, "aws:ec2/subnet:Subnet"))
    assert subnets == [f"platform-network-{kind}-{z}" for kind in ("internal-lb", "private", "public") for z in "abc"]


def test_control_plane_log_group_exists_before_the_cluster_with_retention(staging: OfflineRun) -> None:
    cluster = only(staging, "aws:eks/cluster:Cluster")
    logs = only(staging, "aws:cloudwatch/logGroup:LogGroup", "platform-eks-control-plane-logs")
    assert logs.inputs["name"] == f"/aws/eks/{cluster.inputs['name']}/cluster"
    assert logs.inputs["retentionInDays"] == 90
    assert logs.urn in cluster.dependencies


def test_every_runtime_variable_the_platforms_set_is_a_runtime_setting(staging: OfflineRun) -> None:
    """The SDK and the runtime agree on settings names: a typo here would be silently ignored."""
    from mlinfra.engine.runner import run_offline
    from mlinfra.serving.settings import ServingSettings as Settings
    from tests.core.conftest import ROOT

    known = {f"MLINFRA_{name.upper()}" for name in Settings.model_fields}
    names: set[str] = set()
    for dep in all_of(staging, "kubernetes:apps/v1:Deployment"):
        names |= {e["name"] for e in dep.inputs["spec"]["template"]["spec"]["containers"][0]["env"]}
    dev = run_offline(ROOT, "dev")
    for task in all_of(dev, "aws:ecs/taskDefinition:TaskDefinition"):
        for container in json.loads(task.inputs["containerDefinitions"]):
            names |= {e["name"] for e in container.get("environment", [])}
    ours = {n for n in names if n.startswith("MLINFRA_") and not n.startswith("MLINFRA_SECRET_")}
    assert ours, "no runtime settings found"
    assert ours <= known, f"unknown to the runtime: {sorted(ours - known)}"
