"""The dated EKS tables (Kubernetes versions, managed add-ons) against the EKS calendar data,
and the GPU alert against the labels dcgm-exporter really attaches."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from mlinfra.components.addons import dcgm_exporter_values
from mlinfra.engine.runner import OfflineRun
from mlinfra.spec import eks_versions as table
from tests.upstream.conftest import UPSTREAM, chart_fixture, load_json, load_yaml, origin


def test_version_rows_match_the_eks_calendar() -> None:
    calendar = load_json(UPSTREAM / "eks" / "kubernetes-versions.json")
    for version, row in table.KUBERNETES_VERSIONS.items():
        upstream = calendar[version]
        assert (str(row.released), str(row.standard_support_until), str(row.extended_support_until)) == (
            upstream["released"],
            upstream["standard_support_until"],
            upstream["extended_support_until"],
        ), version


def test_table_holds_every_version_eks_still_creates_and_no_other() -> None:
    calendar = load_json(UPSTREAM / "eks" / "kubernetes-versions.json")
    review = date(2026, 12, 1)
    creatable = {
        v
        for v, row in calendar.items()
        if row["extended_support_until"] and date.fromisoformat(row["extended_support_until"]) >= review
    }
    assert set(table.KUBERNETES_VERSIONS) == creatable
    newest = max(creatable, key=lambda v: tuple(map(int, v.split("."))))
    assert newest == table.NEWEST_VERSION


def test_node_ami_pin_is_a_release_built_for_every_version_in_the_table() -> None:
    """The pinned AL2023 release exists upstream, was built for exactly the versions mlinfra says,
    and for every version EKS still creates has the standard and NVIDIA x86_64 AMIs Karpenter's
    alias picks between (the names its SSM parameters carry)."""
    releases = {r["release"]: r for r in load_json(UPSTREAM / "amazon-eks-ami" / "releases.json")}
    pinned = releases.get(table.NODE_AMI_RELEASE)
    assert pinned, f"{table.NODE_AMI_RELEASE} is not in the amazon-eks-ami fixture: rerun refresh.py"
    assert tuple(pinned["kubernetes"]) == table.NODE_AMI_KUBERNETES
    assert set(table.KUBERNETES_VERSIONS) <= set(table.NODE_AMI_KUBERNETES)
    for version in table.KUBERNETES_VERSIONS:
        amis = set(pinned["versions"][version]["amis"])
        for variant in ("standard", "nvidia"):
            name = f"amazon-eks-node-al2023-x86_64-{variant}-{version}-{table.NODE_AMI_RELEASE}"
            assert name in amis, f"{name} is not in the {table.NODE_AMI_RELEASE} release notes"
    newest = max(releases, key=lambda r: r[1:])
    assert newest == table.NODE_AMI_RELEASE, f"the fixture has a newer release, {newest}"


def test_node_ami_problem_names_the_release_the_version_and_the_lookup() -> None:
    assert table.node_ami_problem(table.NODE_AMI_RELEASE, "1.36") is None
    problem = table.node_ami_problem(table.NODE_AMI_RELEASE, "1.37")
    assert problem
    assert table.NODE_AMI_RELEASE in problem
    assert "1.37" in problem
    assert "/aws/service/eks/optimized-ami/1.37/amazon-linux-2023" in problem
    assert table.node_ami_problem("v20990101", "1.37") is None  # a release the stack names itself


def test_table_date_is_the_calendar_data_date() -> None:
    assert origin(UPSTREAM / "eks")["date"].startswith(str(table.CHECKED))


def test_tables_are_not_stale_today() -> None:
    """Fails on the day the tables need a refresh, naming the date that passed."""
    stale = table.stale_tables(datetime.now(UTC).date())
    refresh = "rerun tests/fixtures/upstream/refresh.py and update mlinfra.spec.eks_versions"
    assert not stale, "; ".join(stale) + ": " + refresh


def test_staleness_names_the_date_that_passed() -> None:
    later = table.REVIEW_BY + timedelta(days=1)
    assert any(str(table.REVIEW_BY) in p for p in table.stale_tables(later))
    newest = table.KUBERNETES_VERSIONS[table.NEWEST_VERSION]
    past_support = newest.standard_support_until + timedelta(days=1)
    assert any(str(newest.standard_support_until) in p for p in table.stale_tables(past_support))


def test_version_problem_follows_the_support_dates() -> None:
    row = table.KUBERNETES_VERSIONS["1.34"]
    assert table.version_problem("1.34", False, row.standard_support_until) is None
    assert "2026-12-02" in (table.version_problem("1.34", False, row.standard_support_until + timedelta(1)) or "")
    assert table.version_problem("1.34", True, row.standard_support_until + timedelta(1)) is None
    assert "ended" in (table.version_problem("1.34", True, row.extended_support_until + timedelta(1)) or "")
    assert table.version_problem("1.31", True, date(2026, 12, 1)) is not None


def test_vpc_cni_configuration_keys_exist_in_the_cni_values() -> None:
    cni = load_yaml(UPSTREAM / "eks" / "aws-vpc-cni-values.yaml")
    for key in table.MANAGED_ADDONS["vpc-cni"].configuration:
        assert key in cni, key
    assert cni["enableNetworkPolicy"] == "false"  # off unless turned on, hence the configuration


def test_gpu_alert_selects_the_label_dcgm_exporter_attaches(eks_runs: dict[str, OfflineRun]) -> None:
    labels = load_json(chart_fixture("dcgm-exporter") / "pod-labels.json")["labels"]
    chart_default = load_yaml(chart_fixture("dcgm-exporter") / "values.yaml")["serviceMonitor"]["honorLabels"]
    assert chart_default is False  # without the override Prometheus renames it exported_namespace
    assert dcgm_exporter_values()["serviceMonitor"]["honorLabels"] is True
    rules = [
        rule
        for r in eks_runs["staging"].resources
        if r.inputs.get("kind") == "PrometheusRule"
        for group in r.inputs["spec"]["groups"]
        for rule in group["rules"]
        if "DCGM_" in rule.get("expr", "")
    ]
    assert rules
    for rule in rules:
        assert f'{labels["namespaceAttribute"]}="' in rule["expr"], rule["expr"]


def test_addon_pins_are_the_upstream_builds_for_each_version() -> None:
    """Each pinned build is the one the upstream data gives for that Kubernetes version and
    add-on; a row edited (or a version added) without refreshing the fixture fails here."""
    fixture = load_json(UPSTREAM / "eks-addons" / "versions.json")
    assert set(fixture["addons"]) == set(table.MANAGED_ADDONS)
    for version, row in table.ADDON_VERSIONS.items():
        assert version in fixture["versions"], f"no upstream add-on data for {version}: refresh the fixture"
        assert row == fixture["versions"][version], version


def test_every_version_eks_still_creates_has_pins_unless_upstream_has_none() -> None:
    """A calendar version gets its row as soon as the upstream data has one; the default
    version always has one for every managed add-on."""
    fixture = load_json(UPSTREAM / "eks-addons" / "versions.json")["versions"]
    for version in table.KUBERNETES_VERSIONS:
        if version in fixture:
            assert version in table.ADDON_VERSIONS, f"{version} has upstream add-on builds but no pinned row"
    assert not table.missing_addon_pins(table.DEFAULT_VERSION, {})
    newest_with_data = max(
        (v for v in table.KUBERNETES_VERSIONS if v in fixture), key=lambda v: tuple(map(int, v.split(".")))
    )
    assert newest_with_data == table.DEFAULT_VERSION


def test_addon_table_date_is_the_upstream_data_date() -> None:
    assert origin(UPSTREAM / "eks-addons")["date"] == str(table.ADDONS_CHECKED)


def test_every_addon_the_stacks_install_is_a_pinned_upstream_build(eks_runs: dict[str, OfflineRun]) -> None:
    fixture = load_json(UPSTREAM / "eks-addons" / "versions.json")["versions"]
    for stack, run in eks_runs.items():
        [cluster] = [r for r in run.resources if r.type == "aws:eks/cluster:Cluster"]
        addons = {
            r.inputs["addonName"]: r.inputs["addonVersion"] for r in run.resources if r.type == "aws:eks/addon:Addon"
        }
        assert set(table.MANAGED_ADDONS) <= set(addons), stack
        for name in table.MANAGED_ADDONS:
            assert addons[name] == fixture[cluster.inputs["version"]][name], (stack, name)
