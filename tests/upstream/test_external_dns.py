"""external-dns on EKS against upstream at the pinned chart: its role grants no more than the
AWS tutorial's policy at the chart's appVersion (narrowed to the stack's zone and names), every
flag mlinfra passes is in that version's flags reference, and `<service>.<domain>` is in the
domain filter (issue 11: names resolve on EKS as on ECS)."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Any

from mlinfra.components.addons import CHARTS
from mlinfra.components.eks_dns import EXTERNAL_DNS_NAMESPACE, RECORD_TYPES
from mlinfra.engine.runner import OfflineRun
from tests.upstream.conftest import chart_fixture, load_json, load_yaml, origin

ZONE = "Z0123456789ABCDEFGHIJ"  # stacks/Pulumi.prod.yaml


def _one(run: OfflineRun, rtype: str, suffix: str) -> Any:
    [res] = [r for r in run.resources if r.type == rtype and r.name.endswith(suffix)]
    return res


def _policy(run: OfflineRun) -> dict[str, Any]:
    return dict(json.loads(_one(run, "aws:iam/rolePolicy:RolePolicy", "-external-dns-policy").inputs["policy"]))


def _release(run: OfflineRun, chart: str) -> Any:
    found = [r for r in run.resources if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["chart"] == chart]
    return found[0] if found else None


def test_fixture_docs_are_of_the_chart_app_version() -> None:
    fixture = chart_fixture("external-dns")
    app = "v" + str(load_yaml(fixture / "Chart.yaml")["appVersion"])
    assert load_json(fixture / "flags.json")["tag"] == app
    assert f"at {app}" in (fixture / "ORIGIN.md").read_text()
    assert origin(fixture)["pin"] == CHARTS["external-dns"].version


def test_role_grants_every_upstream_action_and_nothing_upstream_does_not(eks_runs: dict[str, OfflineRun]) -> None:
    upstream = load_json(chart_fixture("external-dns") / "iam-policy.json")["Statement"]
    policy = _policy(eks_runs["prod"])
    granted = {a for s in policy["Statement"] for a in s["Action"]}
    assert granted == {a for s in upstream for a in s["Action"]}
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        for action in statement["Action"]:
            for resource in statement["Resource"]:
                assert any(
                    action in u["Action"] and any(fnmatchcase(resource, pattern) for pattern in u["Resource"])
                    for u in upstream
                ), f"{action} on {resource} is broader than, or absent from, the upstream policy"


def test_changes_are_limited_to_the_stack_zone_names_and_record_types(eks_runs: dict[str, OfflineRun]) -> None:
    policy = _policy(eks_runs["prod"])
    [change] = [s for s in policy["Statement"] if "route53:ChangeResourceRecordSets" in s["Action"]]
    assert change["Resource"] == [f"arn:aws:route53:::hostedzone/{ZONE}"]
    condition = change["Condition"]
    names = condition["ForAllValues:StringLike"]["route53:ChangeResourceRecordSetsNormalizedRecordNames"]
    assert names == ["ml.acme.example", "*.ml.acme.example"]
    assert condition["ForAllValues:StringEquals"]["route53:ChangeResourceRecordSetsRecordTypes"] == list(RECORD_TYPES)
    # The names external-dns writes for each service (its record and the TXT registry's
    # `<type>-<name>` records) all match the condition.
    hosts = [
        rule["host"]
        for r in eks_runs["prod"].resources
        if r.type == "kubernetes:networking.k8s.io/v1:Ingress"
        for rule in r.inputs["spec"]["rules"]
    ]
    assert hosts
    for host in hosts:
        for name in (host, f"a-{host}", f"aaaa-{host}"):
            assert any(fnmatchcase(name, pattern) for pattern in names), name


def test_values_filter_the_stack_domain_and_zone_with_a_per_stack_owner(eks_runs: dict[str, OfflineRun]) -> None:
    run = eks_runs["prod"]
    values = _release(run, "external-dns").inputs["values"]
    cluster = _one(run, "aws:eks/cluster:Cluster", "-cluster")
    assert values["domainFilters"] == ["ml.acme.example"]
    assert values["txtOwnerId"] == cluster.inputs["name"]  # <project>-<stack>
    assert values["extraArgs"]["zone-id-filter"] == [ZONE]
    flags = set(load_json(chart_fixture("external-dns") / "flags.json")["flags"])
    # extraArgs become `--<key>`; the chart turns txtOwnerId, domainFilters, policy, registry and
    # sources into these flags (templates/deployment.yaml).
    for flag in [*values["extraArgs"], "txt-owner-id", "domain-filter", "policy", "registry", "source"]:
        assert flag in flags, flag
    defaults = load_yaml(chart_fixture("external-dns") / "values.yaml")
    assert defaults["policy"] == "upsert-only"  # upstream default; mlinfra deletes what it owns
    assert values["policy"] == "sync"


def test_role_trusts_only_the_chart_service_account(eks_runs: dict[str, OfflineRun]) -> None:
    run = eks_runs["prod"]
    values = _release(run, "external-dns").inputs["values"]
    trust = json.loads(_one(run, "aws:iam/role:Role", "-external-dns-role").inputs["assumeRolePolicy"])
    [subject] = [v for k, v in trust["Statement"][0]["Condition"]["StringEquals"].items() if k.endswith(":sub")]
    assert CHARTS["external-dns"].namespace == EXTERNAL_DNS_NAMESPACE
    assert subject == f"system:serviceaccount:{EXTERNAL_DNS_NAMESPACE}:{values['serviceAccount']['name']}"
    assert values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")


def test_without_a_zone_there_is_no_external_dns_and_the_output_says_so(eks_runs: dict[str, OfflineRun]) -> None:
    staging, prod = eks_runs["staging"], eks_runs["prod"]
    assert _release(staging, "external-dns") is None
    assert not [r for r in staging.resources if r.name.endswith("-external-dns-role")]
    assert staging.outputs["dns"]
    assert all(v.startswith("left to you (mlinfra:hostedZoneId is not set)") for v in staging.outputs["dns"].values())
    assert prod.outputs["dns"]
    assert all(f"Route 53 record in {ZONE} by external-dns" in v for v in prod.outputs["dns"].values())
