"""The EKS facts mlinfra depends on, as dated data: Kubernetes versions and managed add-ons.

The version table is the EKS calendar as of `CHECKED` (held against tests/fixtures/upstream/eks/;
the suite fails once `REVIEW_BY` has passed, naming the date). The add-on builds are pinned per
Kubernetes version as of `ADDONS_CHECKED` (held against tests/fixtures/upstream/eks-addons/).
The Karpenter nodes' AMI release is pinned here too (held against tests/fixtures/upstream/amazon-eks-ami/).
Refreshing means: rerun tests/fixtures/upstream/refresh.py, update the rows here, move the dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class KubernetesVersion:
    version: str
    released: date
    standard_support_until: date
    """After this EKS bills extended support, or, with upgrade policy STANDARD, upgrades the
    control plane to the next version by itself."""
    extended_support_until: date
    """After this EKS refuses to create the version and upgrades running clusters."""


# The date of the calendar data the rows come from (tests/fixtures/upstream/eks/ORIGIN.md).
CHECKED = date(2026, 8, 22)
# EKS ships a Kubernetes minor about every four months; data older than that misses one.
REVIEW_BY = CHECKED + timedelta(days=120)

# EKS Kubernetes version calendar: every version whose extended support had not ended when the
# table was last reviewed (2026-12-01; 1.31's ended 2026-11-26, so it is gone).
KUBERNETES_VERSIONS: dict[str, KubernetesVersion] = {
    v.version: v
    for v in (
        KubernetesVersion("1.36", date(2026, 6, 2), date(2027, 8, 2), date(2028, 8, 2)),
        KubernetesVersion("1.35", date(2026, 1, 28), date(2027, 3, 27), date(2028, 3, 27)),
        KubernetesVersion("1.34", date(2025, 10, 6), date(2026, 12, 2), date(2027, 12, 2)),
        KubernetesVersion("1.33", date(2025, 5, 28), date(2026, 7, 29), date(2027, 7, 29)),
        KubernetesVersion("1.32", date(2025, 1, 25), date(2026, 3, 23), date(2027, 3, 23)),
    )
}
NEWEST_VERSION = max(KUBERNETES_VERSIONS, key=lambda v: tuple(int(p) for p in v.split(".")))


@dataclass(frozen=True)
class ManagedAddon:
    name: str
    """The EKS add-on name (`aws eks describe-addon-versions --addon-name`)."""
    before_nodes: bool
    """DaemonSets the nodes need from their first boot (networking, pod identity); the
    Deployments (coredns, the EBS CSI controller) need nodes to become ACTIVE."""
    configuration: dict[str, object]
    """The add-on's configuration values (its JSON schema: describe-addon-configuration)."""


# The core add-ons as EKS managed add-ons, so `pulumi up` upgrades them with the cluster.
# Versions: ADDON_VERSIONS for the cluster's Kubernetes version, unless the stack pins a build
# in mlinfra:eks.addonVersions.
MANAGED_ADDONS: dict[str, ManagedAddon] = {
    a.name: a
    for a in (
        # enableNetworkPolicy turns on the VPC CNI's network-policy agent: without it every
        # NetworkPolicy is accepted and ignored. Same key as the aws-vpc-cni chart's values.
        ManagedAddon("vpc-cni", True, {"enableNetworkPolicy": "true"}),
        ManagedAddon("kube-proxy", True, {}),
        ManagedAddon("eks-pod-identity-agent", True, {}),
        ManagedAddon("coredns", False, {}),
        ManagedAddon("aws-ebs-csi-driver", False, {}),
    )
}


# The date of the add-on data (tests/fixtures/upstream/eks-addons/ORIGIN.md). No review-by date:
# an EKS add-on build stays installable after newer ones ship; what goes stale is a Kubernetes
# version without a row, and the test suite fails for that.
ADDONS_CHECKED = date(2026, 7, 18)
# Kubernetes version -> EKS add-on -> the build `pulumi up` installs. A fixed build, so a second
# `pulumi up` never changes an add-on because EKS moved its default; bumping a row is a deliberate
# change that shows in `mlinfra diff`.
ADDON_VERSIONS: dict[str, dict[str, str]] = {
    "1.35": {
        "vpc-cni": "v1.21.1-eksbuild.1",
        "kube-proxy": "v1.35.0-eksbuild.2",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.2",
        "coredns": "v1.13.2-eksbuild.3",
        "aws-ebs-csi-driver": "v1.57.1-eksbuild.1",
    },
    "1.34": {
        "vpc-cni": "v1.20.4-eksbuild.2",
        "kube-proxy": "v1.34.0-eksbuild.2",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.2",
        "coredns": "v1.12.3-eksbuild.1",
        "aws-ebs-csi-driver": "v1.56.0-eksbuild.1",
    },
    "1.33": {
        "vpc-cni": "v1.20.4-eksbuild.2",
        "kube-proxy": "v1.33.3-eksbuild.4",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.2",
        "coredns": "v1.12.1-eksbuild.2",
        "aws-ebs-csi-driver": "v1.56.0-eksbuild.1",
    },
    "1.32": {
        "vpc-cni": "v1.20.4-eksbuild.2",
        "kube-proxy": "v1.32.6-eksbuild.12",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.2",
        "coredns": "v1.11.4-eksbuild.2",
        "aws-ebs-csi-driver": "v1.56.0-eksbuild.1",
    },
}
# What a stack gets without mlinfra:eks.version: the newest version with pinned add-on builds
# (1.36 is in the calendar, but the add-on data has no row for it yet).
DEFAULT_VERSION = max(
    (v for v in KUBERNETES_VERSIONS if v in ADDON_VERSIONS), key=lambda v: tuple(int(p) for p in v.split("."))
)


# The EKS-optimized AL2023 AMI release Karpenter's nodes boot (alias `al2023@<release>`), and the
# Kubernetes versions it was built for (its release notes). A fixed release, so AWS publishing an
# AMI never replaces nodes by itself; bumping it (or mlinfra:eks.amiVersion) drifts every
# Karpenter node to the new AMI within the pools' disruption budgets.
NODE_AMI_RELEASE = "v20260714"
NODE_AMI_KUBERNETES = ("1.30", "1.31", "1.32", "1.33", "1.34", "1.35", "1.36")


def missing_addon_pins(version: str, stack_pins: dict[str, str]) -> list[str]:
    """The managed add-ons that would have no build on `version`: neither a row here nor a
    stack pin."""
    row = ADDON_VERSIONS.get(version, {})
    return [a for a in MANAGED_ADDONS if a not in stack_pins and a not in row]


def version_problem(version: str, extended_support: bool, today: date) -> str | None:
    """Why EKS would refuse (or silently upgrade) this version today; None when it is fine."""
    row = KUBERNETES_VERSIONS.get(version)
    if row is None:
        return f"not a version EKS creates (table checked {CHECKED})"
    if today > row.extended_support_until:
        return f"EKS extended support for {version} ended {row.extended_support_until}"
    if today > row.standard_support_until and not extended_support:
        return (
            f"standard support for {version} ended {row.standard_support_until}; upgrade, or "
            "set extendedSupport: true (billed at the extended-support rate)"
        )
    return None


def node_ami_problem(release: str, version: str) -> str | None:
    """Why Karpenter could not resolve the AMI of `release` for Kubernetes `version`. Only the
    pinned release's versions are known here; a release the stack names itself is trusted."""
    if release == NODE_AMI_RELEASE and version not in NODE_AMI_KUBERNETES:
        return (
            f"the AL2023 AMI release {release} has no image for Kubernetes {version} (it was built for "
            f"{', '.join(NODE_AMI_KUBERNETES)}); allowed: one of those versions, or amiVersion set to a "
            f"release built for {version} (aws ssm get-parameters-by-path --recursive --path "
            f"/aws/service/eks/optimized-ami/{version}/amazon-linux-2023/x86_64/standard --query "
            "'Parameters[].Name')"
        )
    return None


def stale_tables(today: date) -> list[str]:
    """What makes the tables out of date on `today`, each naming the date that passed."""
    problems = []
    if today > REVIEW_BY:
        problems.append(f"the EKS version table (checked {CHECKED}) was due for review on {REVIEW_BY}")
    newest = KUBERNETES_VERSIONS[NEWEST_VERSION]
    if today > newest.standard_support_until:
        problems.append(
            f"the newest version in the table, {NEWEST_VERSION}, left standard support on "
            f"{newest.standard_support_until}"
        )
    return problems
