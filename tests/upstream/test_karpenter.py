"""Karpenter as upstream ships it at the pinned version (tests/fixtures/upstream/charts/karpenter):
the controller's IAM policies, node role, interruption queue and event rules against the
getting-started CloudFormation; NodePool and EC2NodeClass against the CRD schemas; the pod
density and VM overhead the schedulability proof uses against Karpenter's own data."""

from __future__ import annotations

import ast
import copy
import json
import re
from typing import Any

import jsonschema
import pytest
import yaml

from mlinfra.components.addons import CHARTS
from mlinfra.components.karpenter import (
    _POLICIES_FILE,
    INTERRUPTION_EVENTS,
    KARPENTER_VERSION,
    NODE_ROLE_POLICIES,
    controller_policies,
    interruption_queue_policy,
)
from mlinfra.components.karpenter_pools import ami_alias
from mlinfra.engine.runner import OfflineRun
from mlinfra.spec import schedulability
from mlinfra.spec.capacity import instance_table
from mlinfra.spec.eks_versions import NODE_AMI_RELEASE
from tests.upstream.conftest import chart_fixture, load_json, load_yaml, origin
from tests.upstream.test_custom_resources import closed

FIXTURE = chart_fixture("karpenter")
NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"
NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"


class _CloudFormation(yaml.SafeLoader):
    pass


for _tag in ("!Sub", "!Ref", "!GetAtt"):
    _CloudFormation.add_constructor(_tag, lambda loader, node, tag=_tag: {tag: loader.construct_scalar(node)})


def cloudformation() -> dict[str, Any]:
    return dict(yaml.load((FIXTURE / "cloudformation.yaml").read_text(), Loader=_CloudFormation)["Resources"])


def of_type(run: OfflineRun, token: str) -> list[Any]:
    return [r for r in run.resources if r.type == token]


def test_fixture_is_the_pinned_version() -> None:
    assert origin(FIXTURE)["pin"] == KARPENTER_VERSION == CHARTS["karpenter-crd"].version
    assert origin(FIXTURE)["ref"] == f"v{KARPENTER_VERSION}"
    assert _POLICIES_FILE.exists(), f"no vendored controller policies for Karpenter {KARPENTER_VERSION}"


def test_vendored_controller_policies_are_the_upstream_ones() -> None:
    upstream = {
        name: json.loads(r["Properties"]["PolicyDocument"]["!Sub"])
        for name, r in cloudformation().items()
        if r["Type"] == "AWS::IAM::ManagedPolicy"
    }
    assert json.loads(_POLICIES_FILE.read_text())["policies"] == upstream


def test_rendered_controller_policies_fill_in_this_cluster(eks_runs: dict[str, OfflineRun]) -> None:
    run = eks_runs["staging"]
    policies = {
        r.name.removeprefix("platform-karpenter-"): json.loads(r.inputs["policy"])
        for r in of_type(run, "aws:iam/policy:Policy")
        if r.name.startswith("platform-karpenter-")
    }
    [queue] = of_type(run, "aws:sqs/queue:Queue")
    [role] = [r for r in of_type(run, "aws:iam/role:Role") if r.name == "platform-karpenter-node-role"]
    expected = controller_policies(
        {
            "AWS::Partition": "aws",
            "AWS::Region": "us-east-1",
            "AWS::AccountId": "123456789012",
            "ClusterName": "mlinfra-staging",
            "KarpenterInterruptionQueue.Arn": "arn:aws:sqs:us-east-1:123456789012:platform-karpenter-interruptions",
            "KarpenterNodeRole.Arn": policies["IAMIntegrationPolicy"]["Statement"][0]["Resource"],
        }
    )
    assert policies == expected
    assert policies["IAMIntegrationPolicy"]["Statement"][0]["Resource"].startswith("arn:aws:iam::123456789012:role/")
    assert queue
    assert role
    text = json.dumps(policies)
    assert "${" not in text
    assert "aws:ResourceTag/kubernetes.io/cluster/mlinfra-staging" in text


def test_node_role_has_the_upstream_managed_policies(eks_runs: dict[str, OfflineRun]) -> None:
    upstream = cloudformation()["KarpenterNodeRole"]["Properties"]
    arns = [a["!Sub"].replace("${AWS::Partition}", "aws") for a in upstream["ManagedPolicyArns"]]
    assert sorted(arns) == sorted(f"arn:aws:iam::aws:policy/{p}" for p in NODE_ROLE_POLICIES)
    run = eks_runs["staging"]
    attached = sorted(
        r.inputs["policyArn"]
        for r in of_type(run, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r.name.startswith("platform-karpenter-node-")
    )
    assert attached == sorted(arns)
    [role] = [r for r in of_type(run, "aws:iam/role:Role") if r.name == "platform-karpenter-node-role"]
    [statement] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "ec2.amazonaws.com"}  # ec2.${AWS::URLSuffix}
    [entry] = of_type(run, "aws:eks/accessEntry:AccessEntry") and [
        r for r in of_type(run, "aws:eks/accessEntry:AccessEntry") if r.name == "platform-karpenter-node-access"
    ]
    assert entry.inputs["type"] == "EC2_LINUX"


def test_interruption_queue_and_rules_match_upstream(eks_runs: dict[str, OfflineRun]) -> None:
    cfn = cloudformation()
    queue_props = cfn["KarpenterInterruptionQueue"]["Properties"]
    upstream_policy = cfn["KarpenterInterruptionQueuePolicy"]["Properties"]["PolicyDocument"]
    arn = "arn:aws:sqs:us-east-1:123456789012:q"
    upstream_policy = json.loads(
        json.dumps(upstream_policy).replace('{"!GetAtt": "KarpenterInterruptionQueue.Arn"}', json.dumps(arn))
    )
    mine = interruption_queue_policy(arn)
    assert mine.pop("Version") == "2012-10-17"
    assert mine == upstream_policy
    rules = {
        (r["Properties"]["EventPattern"]["source"][0], r["Properties"]["EventPattern"]["detail-type"][0])
        for r in cfn.values()
        if r["Type"] == "AWS::Events::Rule"
    }
    assert set(INTERRUPTION_EVENTS.values()) == rules
    run = eks_runs["prod"]
    [queue] = of_type(run, "aws:sqs/queue:Queue")
    assert queue.inputs["messageRetentionSeconds"] == queue_props["MessageRetentionPeriod"]
    assert queue.inputs["sqsManagedSseEnabled"] is queue_props["SqsManagedSseEnabled"]
    rendered = of_type(run, "aws:cloudwatch/eventRule:EventRule")
    patterns = {json.dumps(json.loads(r.inputs["eventPattern"]), sort_keys=True) for r in rendered}
    assert patterns == {json.dumps({"detail-type": [d], "source": [s]}, sort_keys=True) for s, d in rules}
    targets = of_type(run, "aws:cloudwatch/eventTarget:EventTarget")
    assert len(targets) == len(rules)
    assert {t.inputs["arn"] for t in targets} == {f"arn:aws:sqs:us-east-1:123456789012:{queue.name}"}


def crd_schema(kind: str) -> dict[str, Any]:
    crd = load_yaml(FIXTURE / {"NodePool": "crd-nodepools.yaml", "EC2NodeClass": "crd-ec2nodeclasses.yaml"}[kind])
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return dict(closed(version["schema"]["openAPIV3Schema"]))


def problems(doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(crd_schema(doc["kind"]))
    return sorted(f"{'.'.join(map(str, e.absolute_path)) or '.'}: {e.message}" for e in validator.iter_errors(doc))


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_nodepool_and_nodeclass_validates_against_the_crd(eks_runs: dict[str, OfflineRun], stack: str) -> None:
    docs = of_type(eks_runs[stack], NODEPOOL) + of_type(eks_runs[stack], NODECLASS)
    assert {r.inputs["metadata"]["name"] for r in docs} == {"cpu", "gpu-a10g"}
    found = [f"{r.name}: {p}" for r in docs for p in problems(r.inputs)]
    assert not found, "\n".join(found)


def test_a_misspelt_or_mistyped_karpenter_field_is_caught(eks_runs: dict[str, OfflineRun]) -> None:
    [pool] = [r.inputs for r in of_type(eks_runs["staging"], NODEPOOL) if r.inputs["metadata"]["name"] == "cpu"]
    bad = copy.deepcopy(pool)
    bad["spec"]["disruption"]["consolidationPolicy"] = "WhenIdle"
    assert any("consolidationPolicy" in p for p in problems(bad))
    bad = copy.deepcopy(pool)
    bad["spec"]["template"]["spec"]["nodeClasRef"] = bad["spec"]["template"]["spec"].pop("nodeClassRef")
    assert problems(bad)
    [node_class] = [r.inputs for r in of_type(eks_runs["staging"], NODECLASS)][:1]
    bad = copy.deepcopy(node_class)
    bad["spec"]["metadataOptions"]["httpTokens"] = "optional-please"
    assert any("httpTokens" in p for p in problems(bad))
    bad = copy.deepcopy(node_class)
    bad["spec"]["subnetSelectorTerms"] = [{"id": "not-a-subnet"}]
    assert any("subnetSelectorTerms" in p for p in problems(bad))


def test_ami_aliases_pass_the_crds_own_alias_rules() -> None:
    """The alias's CEL rules (which a JSON-schema validator skips), applied as the API server would:
    its length, the family@version format and the family list, all read from the pinned CRD."""
    [v1] = [v for v in load_yaml(FIXTURE / "crd-ec2nodeclasses.yaml")["spec"]["versions"] if v["name"] == "v1"]
    term = v1["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["amiSelectorTerms"]["items"]
    alias = term["properties"]["alias"]
    rules = [r["rule"] for r in alias["x-kubernetes-validations"]]
    [pattern] = [re.search(r"self\.matches\('(.+)'\)", r).group(1) for r in rules if "self.matches" in r]  # type: ignore[union-attr]
    [families] = [
        ast.literal_eval(r.split(" in ", 1)[1]) for r in rules if r.startswith("self.split('@')[0] in") and "?" not in r
    ]
    for release in (NODE_AMI_RELEASE, "latest"):
        value = ami_alias(release)
        assert len(value) <= alias["maxLength"]
        assert re.match(pattern, value), value
        assert value.split("@")[0] in families


def test_nodeclasses_are_hardened(eks_runs: dict[str, OfflineRun]) -> None:
    for run in eks_runs.values():
        for r in of_type(run, NODECLASS):
            spec = r.inputs["spec"]
            assert spec["amiSelectorTerms"] == [{"alias": f"al2023@{NODE_AMI_RELEASE}"}]
            assert spec["metadataOptions"]["httpTokens"] == "required"
            assert spec["metadataOptions"]["httpPutResponseHopLimit"] == 1
            [disk] = spec["blockDeviceMappings"]
            assert disk["ebs"]["encrypted"] is True
            assert disk["ebs"]["volumeType"] == "gp3"


def test_the_proof_uses_karpenters_own_vm_overhead_and_pod_density() -> None:
    values = load_yaml(FIXTURE / "values.yaml")
    assert values["settings"]["vmMemoryOverheadPercent"] == schedulability.VM_MEMORY_OVERHEAD
    limits = load_json(FIXTURE / "vpc-limits.json")
    assert limits["ref"] == f"v{KARPENTER_VERSION}"
    density = {t: v["default_card_interfaces"] * (v["ipv4_per_interface"] - 1) + 2 for t, v in limits["limits"].items()}
    assert density == schedulability.MAX_PODS
    assert set(instance_table()) <= set(schedulability.MAX_PODS), "an instance type without its pod density"


def test_karpenter_supports_the_stacks_kubernetes_versions(eks_runs: dict[str, OfflineRun]) -> None:
    # As text: YAML would read 1.30 as the float 1.3.
    matrix = yaml.load((FIXTURE / "compatibility.yaml").read_text(), Loader=yaml.BaseLoader)
    minor = ".".join(KARPENTER_VERSION.split(".")[:2]) + ".x"
    [row] = [r for r in matrix["compatibility"] if r["appVersion"] == minor]
    low, high = (tuple(int(x) for x in row[k].split(".")) for k in ("minK8sVersion", "maxK8sVersion"))
    for run in eks_runs.values():
        version = tuple(int(x) for x in run.deployment.settings.eks.version.split("."))
        assert low <= version <= high, f"Karpenter {KARPENTER_VERSION} supports Kubernetes {row}"
