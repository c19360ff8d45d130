"""The EKS platform's reachability, versions, add-ons, install order and lifecycle (issue 10)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mlinfra.components.addons import RELEASE_DEPENDENCIES, release_order
from mlinfra.components.eks_access import CLUSTER_ADMIN_POLICY, kubeconfig_exec, provider_identity
from mlinfra.engine.runner import OfflineRun, run_offline
from mlinfra.errors import SpecError
from mlinfra.spec.eks_versions import (
    ADDON_VERSIONS,
    DEFAULT_VERSION,
    KUBERNETES_VERSIONS,
    MANAGED_ADDONS,
    NODE_AMI_RELEASE,
)
from tests.core.conftest import STACK_HEADER, all_of, only

SERVICE = {"a.py": 'from mlinfra import ModelService\nModelService("a", model_uri="s3://b-1/m/x.onnx")\n'}


def _by_urn(run: OfflineRun) -> dict[str, object]:
    return {r.urn: r for r in run.resources}


def _depends_on(run: OfflineRun, res_name: str, rtype: str) -> set[str]:
    by = {r.urn: r for r in run.resources}
    res = only(run, rtype, res_name)
    return {by[d].name for d in res.dependencies if d in by}


def _run(project: Callable[..., Path], extra: str = "", header: str = STACK_HEADER) -> OfflineRun:
    return run_offline(project(services=SERVICE, stacks={"s": header + extra}), "s")


def test_admins_get_access_entries_before_anything_talks_to_kubernetes(prod: OfflineRun) -> None:
    cluster = only(prod, "aws:eks/cluster:Cluster")
    assert cluster.inputs["accessConfig"] == {
        "authenticationMode": "API",
        "bootstrapClusterCreatorAdminPermissions": False,
    }
    # Clusters created with the old bootstrap default must not be replaced for it.
    assert "accessConfig.bootstrapClusterCreatorAdminPermissions" in cluster.options["ignoreChanges"]
    # (Karpenter's node role has an EC2_LINUX entry of its own, no policy association.)
    entries = {
        r.inputs["principalArn"]
        for r in all_of(prod, "aws:eks/accessEntry:AccessEntry")
        if r.inputs.get("type") != "EC2_LINUX"
    }
    assert entries == {
        "arn:aws:iam::123456789012:role/mlinfra-deployer",
        "arn:aws:iam::123456789012:role/platform-admins",
    }
    grants = all_of(prod, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert {(g.inputs["policyArn"], g.inputs["accessScope"]["type"]) for g in grants} == {
        (CLUSTER_ADMIN_POLICY, "cluster")
    }
    provider = only(prod, "pulumi:providers:kubernetes")
    assert {g.urn for g in grants} <= set(provider.dependencies)


class _Config:
    def __init__(self, values: dict[str, object]) -> None:
        self.values = values

    def get(self, key: str) -> object:
        return self.values.get(key)

    def get_object(self, key: str) -> object:
        return self.values.get(key)


def test_get_token_runs_as_the_aws_providers_identity() -> None:
    role = "arn:aws:iam::123456789012:role/deployer"
    config = _Config({"profile": "ci", "assumeRoles": [{"roleArn": "arn:aws:iam::1:role/hop"}, {"roleArn": role}]})
    assert provider_identity(config) == ("ci", role)  # type: ignore[arg-type]
    exec_ = kubeconfig_exec("c", "us-east-1", config)  # type: ignore[arg-type]
    assert exec_["args"][-2:] == ["--role-arn", role]
    assert exec_["env"] == [{"name": "AWS_PROFILE", "value": "ci"}]
    plain = kubeconfig_exec("c", "us-east-1", _Config({}))  # type: ignore[arg-type]
    assert "--role-arn" not in plain["args"]
    assert "env" not in plain


def test_stack_aws_config_reaches_the_kubeconfig(project: Callable[..., Path]) -> None:
    header = STACK_HEADER.replace(
        "  aws:region: us-east-1\n",
        "  aws:region: us-east-1\n  aws:profile: deploy\n"
        "  aws:assumeRoles:\n    - roleArn: arn:aws:iam::123456789012:role/deployer\n",
    )
    provider = only(_run(project, header=header), "pulumi:providers:kubernetes")
    user = json.loads(provider.inputs["kubeconfig"])["users"][0]["user"]["exec"]
    assert user["args"][-2:] == ["--role-arn", "arn:aws:iam::123456789012:role/deployer"]
    assert user["env"] == [{"name": "AWS_PROFILE", "value": "deploy"}]


def test_private_endpoint_opens_the_cluster_sg_to_the_in_vpc_deployer(project: Callable[..., Path]) -> None:
    header = STACK_HEADER.replace(
        "    deployerCidrs: [203.0.113.0/24]\n", "    endpointPublicAccess: false\n    deployerCidrs: [10.99.0.0/16]\n"
    )
    run = _run(project, header=header)
    vpc = only(run, "aws:eks/cluster:Cluster").inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc
    [rule] = all_of(run, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert (rule.inputs["cidrIpv4"], rule.inputs["fromPort"], rule.inputs["toPort"]) == ("10.99.0.0/16", 443, 443)
    assert rule.inputs["securityGroupId"].startswith("sg-")
    assert not all_of(_run(project), "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")


def test_version_upgrade_policy_and_node_groups_follow_the_table(staging: OfflineRun) -> None:
    cluster = only(staging, "aws:eks/cluster:Cluster").inputs
    assert cluster["version"] == DEFAULT_VERSION
    assert cluster["upgradePolicy"] == {"supportType": "STANDARD"}
    for group in all_of(staging, "aws:eks/nodeGroup:NodeGroup"):
        assert group.inputs["version"] == cluster["version"], group.name
        # The system pool is not autoscaled (Karpenter scales the service pools): the stack's
        # desired size is applied, not ignored.
        assert "ignoreChanges" not in group.options


def test_extended_support_is_opt_in_and_priced(project: Callable[..., Path]) -> None:
    from mlinfra.engine.cost import estimate, load_prices

    def control_plane(run: OfflineRun) -> float:
        cluster = only(run, "aws:eks/cluster:Cluster")
        doc = {
            "resources": [
                {
                    "urn": cluster.urn,
                    "type": cluster.type,
                    "name": cluster.name,
                    "inputs": cluster.inputs,
                    "dependencies": [],
                }
            ]
        }
        return float(estimate(doc, load_prices("us-east-1"))["total"]["min"])

    header = STACK_HEADER.replace(
        "    deployerCidrs:", '    version: "1.33"\n    extendedSupport: true\n    deployerCidrs:'
    )
    extended = _run(project, header=header)
    assert only(extended, "aws:eks/cluster:Cluster").inputs["upgradePolicy"] == {"supportType": "EXTENDED"}
    assert control_plane(extended) == 6 * control_plane(_run(project)) == 438.0  # $0.60 vs $0.10 an hour


def test_core_addons_are_managed_and_ordered_around_the_nodes(staging: OfflineRun) -> None:
    addons = {r.inputs["addonName"]: r for r in all_of(staging, "aws:eks/addon:Addon")}
    assert (
        set(addons)
        == set(MANAGED_ADDONS)
        == {"vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent", "aws-ebs-csi-driver"}
    )
    assert json.loads(addons["vpc-cni"].inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    assert addons["aws-ebs-csi-driver"].inputs["serviceAccountRoleArn"].startswith("arn:aws:iam::")
    assert {"platform-eks-vpc-cni", "platform-eks-kube-proxy", "platform-eks-eks-pod-identity-agent"} <= (
        _depends_on(staging, "platform-eks-system", "aws:eks/nodeGroup:NodeGroup")
    )
    for late in ("coredns", "aws-ebs-csi-driver"):
        deps = _depends_on(staging, f"platform-eks-{late}", "aws:eks/addon:Addon")
        assert "platform-eks-system" in deps


def test_addon_version_can_be_pinned(project: Callable[..., Path]) -> None:
    run = _run(
        project,
        "  mlinfra:eks:\n    deployerCidrs: [203.0.113.0/24]\n"
        "    admins: [arn:aws:iam::123456789012:role/mlinfra-deployer]\n"
        "    addonVersions: {vpc-cni: v1.20.4-eksbuild.2}\n",
        header=STACK_HEADER.split("  mlinfra:eks:\n")[0],
    )
    versions = {r.inputs["addonName"]: r.inputs["addonVersion"] for r in all_of(run, "aws:eks/addon:Addon")}
    assert versions["vpc-cni"] == "v1.20.4-eksbuild.2"
    assert versions["coredns"] == ADDON_VERSIONS[DEFAULT_VERSION]["coredns"]  # the table's, no deploy-time lookup


def test_a_version_without_pinned_addon_builds_is_refused_unless_the_stack_pins_them(
    project: Callable[..., Path],
) -> None:
    unpinned = sorted(set(KUBERNETES_VERSIONS) - set(ADDON_VERSIONS))
    assert unpinned, "every calendar version has add-on pins: pick another case"
    version = unpinned[-1]
    eks = (
        "  mlinfra:eks:\n    deployerCidrs: [203.0.113.0/24]\n"
        "    admins: [arn:aws:iam::123456789012:role/mlinfra-deployer]\n"
        f'    version: "{version}"\n'
    )
    header = STACK_HEADER.split("  mlinfra:eks:\n")[0]
    root = project(services=SERVICE, stacks={"s": header + eks})
    with pytest.raises(SpecError) as refused:
        run_offline(root, "s")
    text = "\n".join(p.render() for p in refused.value.problems)
    assert f"version {version}: no pinned EKS add-on builds for" in text
    assert "addonVersions" in text
    builds = {a: f"v9.9.9-eksbuild.{i}" for i, a in enumerate(MANAGED_ADDONS)}
    pins = "    addonVersions: {" + ", ".join(f"{a}: {b}" for a, b in builds.items()) + "}\n"
    run = run_offline(project(services=SERVICE, stacks={"s": header + eks + pins}), "s")
    assert {r.inputs["addonName"]: r.inputs["addonVersion"] for r in all_of(run, "aws:eks/addon:Addon")} == builds


def test_release_graph_is_explicit_and_crds_come_first(staging: OfflineRun) -> None:
    order = release_order(RELEASE_DEPENDENCIES)
    assert order.index("prometheus-operator-crds") < order.index("kube-prometheus-stack")
    assert order.index("prometheus-operator-crds") < order.index("dcgm-exporter")
    releases = {r.inputs["chart"].rsplit("/", 1)[-1]: r for r in all_of(staging, "kubernetes:helm.sh/v3:Release")}
    crds = releases["prometheus-operator-crds"].urn
    for chart in ("kube-prometheus-stack", "dcgm-exporter"):
        assert crds in releases[chart].dependencies, chart
    # Karpenter's CRDs before the controller, both before any NodePool; no release waits for a pool.
    assert releases["karpenter-crd"].urn in releases["karpenter"].dependencies
    pools = all_of(staging, "kubernetes:karpenter.sh/v1:NodePool")
    for pool in pools:
        assert {releases["karpenter-crd"].urn, releases["karpenter"].urn} <= set(pool.dependencies), pool.name
        for release in releases.values():
            assert pool.urn not in release.dependencies, release.name
    lbc = releases["aws-load-balancer-controller"].inputs["values"]
    assert lbc["enableServiceMutatorWebhook"] is False
    # Every ServiceMonitor / PrometheusRule waits for the CRDs (through its service).
    by = {r.urn: r for r in staging.resources}
    for res in staging.resources:
        if res.type.startswith("kubernetes:monitoring.coreos.com/"):
            ancestors, todo = set(), [res.urn, res.parent]
            while todo:
                urn = todo.pop()
                if urn in ancestors or urn not in by:
                    continue
                ancestors.add(urn)
                todo += [*by[urn].dependencies, by[urn].parent]
            assert crds in ancestors, res.name


def test_grafana_admin_password_is_generated_into_a_secret(staging: OfflineRun) -> None:
    secret = only(staging, "kubernetes:core/v1:Secret", "platform-addons-grafana-admin").inputs
    assert secret["metadata"] == {"name": "grafana-admin", "namespace": "monitoring"}
    assert secret["stringData"] == {"admin-user": "[secret]", "admin-password": "[secret]"}  # masked as a whole
    password = only(staging, "random:index/randomPassword:RandomPassword")
    assert password.inputs["length"] >= 32


def test_prometheus_keeps_its_data_on_an_ebs_gp3_volume(staging: OfflineRun) -> None:
    storage = only(staging, "kubernetes:storage.k8s.io/v1:StorageClass").inputs
    assert (storage["provisioner"], storage["parameters"]["type"]) == ("ebs.csi.aws.com", "gp3")
    assert "platform-eks-aws-ebs-csi-driver" in _depends_on(
        staging, "platform-addons-gp3", "kubernetes:storage.k8s.io/v1:StorageClass"
    )


def test_prod_protects_cluster_and_keys_and_fixed_names_delete_before_replace(
    staging: OfflineRun, prod: OfflineRun
) -> None:
    for run, protected in ((prod, True), (staging, False)):
        cluster = only(run, "aws:eks/cluster:Cluster")
        assert cluster.inputs["name"] == f"mlinfra-{run.stack}"  # <project>-<stack>
        assert cluster.options.get("deleteBeforeReplace") is True
        assert (
            only(run, "aws:cloudwatch/logGroup:LogGroup", "platform-eks-control-plane-logs").options[
                "deleteBeforeReplace"
            ]
            is True
        )
        for res in [cluster, *all_of(run, "aws:kms/key:Key")]:
            assert res.options.get("protect", False) is protected, (run.stack, res.name)


def test_cluster_name_carries_the_project_name(project: Callable[..., Path]) -> None:
    root = project(services=SERVICE, stacks={"s": STACK_HEADER})
    project_file = root / "Pulumi.yaml"
    project_file.write_text(project_file.read_text().replace("name: mlinfra", "name: fraud-team", 1))
    run = run_offline(root, "s")
    cluster = only(run, "aws:eks/cluster:Cluster").inputs
    assert cluster["name"] == "fraud-team-s"


def test_internal_load_balancers_get_subnets_of_their_own(staging: OfflineRun) -> None:
    """Pods and internal ALBs never share a range, so a policy can admit one and not the other."""
    import ipaddress

    subnets = {r.name: r.inputs for r in all_of(staging, "aws:ec2/subnet:Subnet")}
    tagged = {n for n, s in subnets.items() if s["tags"].get("kubernetes.io/role/internal-elb") == "1"}
    assert tagged == {f"platform-network-internal-lb-{z}" for z in "abc"}
    pods = [ipaddress.ip_network(s["cidrBlock"]) for n, s in subnets.items() if "-private-" in n]
    lbs = [ipaddress.ip_network(subnets[n]["cidrBlock"]) for n in tagged]
    assert not any(p.overlaps(lb) for p in pods for lb in lbs)


def test_access_log_bucket_is_emptied_on_destroy_outside_prod_and_kept_in_prod(
    staging: OfflineRun, prod: OfflineRun
) -> None:
    """Without force_destroy a non-prod `destroy` fails on a bucket that always holds logs;
    in prod every resource of the bucket is protected, so the logs outlive the stack."""
    for run, production in ((staging, False), (prod, True)):
        bucket = only(run, "aws:s3/bucket:Bucket", "platform-alb-logs-bucket")
        assert bucket.inputs["forceDestroy"] is (not production), run.stack
        parts = [r for r in run.resources if r.name.startswith("platform-alb-logs-")]
        assert len(parts) >= 7, [r.name for r in parts]  # bucket, policy, lifecycle, ...
        assert {r.name: bool(r.options.get("protect")) for r in parts} == {r.name: production for r in parts}


def test_karpenter_nodes_boot_the_pinned_ami_release_unless_the_stack_names_one(
    project: Callable[..., Path], staging: OfflineRun
) -> None:
    def aliases(run: OfflineRun) -> set[str]:
        classes = [r for r in all_of(run, "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass")]
        assert classes
        return {term["alias"] for r in classes for term in r.inputs["spec"]["amiSelectorTerms"]}

    assert aliases(staging) == {f"al2023@{NODE_AMI_RELEASE}"}
    run = _run(
        project,
        "  mlinfra:eks:\n    deployerCidrs: [203.0.113.0/24]\n"
        "    admins: [arn:aws:iam::123456789012:role/mlinfra-deployer]\n"
        "    amiVersion: v20260625\n",
        header=STACK_HEADER.split("  mlinfra:eks:\n")[0],
    )
    assert aliases(run) == {"al2023@v20260625"}
