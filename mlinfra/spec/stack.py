"""Per-environment settings: everything under the `mlinfra:` config namespace of a stack."""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from mlinfra.spec.alerting import AlertingSettings
from mlinfra.spec.base import StrictModel
from mlinfra.spec.capacity import NodeGroupSize, check_instance_types
from mlinfra.spec.ecs import EcsSettings
from mlinfra.spec.eks_versions import (
    ADDON_VERSIONS,
    ADDONS_CHECKED,
    DEFAULT_VERSION,
    KUBERNETES_VERSIONS,
    MANAGED_ADDONS,
    NODE_AMI_RELEASE,
    missing_addon_pins,
    node_ami_problem,
    version_problem,
)
from mlinfra.spec.nodepools import OLD_GPU_KEYS_MESSAGE, NodePool, check_pools, default_pools
from mlinfra.spec.release import ReleasePin

_ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$")
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+$")
_AMI_RELEASE = re.compile(r"^v20\d{6}$")
_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")


_VPC_RANGES = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"))


def _in_vpc_range(cidr: str) -> bool:
    """RFC 1918 and carrier-grade NAT space: addresses a VPC (or a peered network) uses."""
    net = ipaddress.ip_network(cidr)
    return any(net.version == r.version and net.subnet_of(r) for r in _VPC_RANGES)  # type: ignore[arg-type]


EndpointMode = Literal["interface", "gateway", "none"]


def _cidr(value: str) -> str:
    """An IPv4 or IPv6 network in canonical form (no host bits set), e.g. 10.0.0.0/16."""
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"{str(value)[:50]!r} is not a CIDR block ({str(exc)[:80]}); example: 10.0.0.0/16") from None
    return value


# mlinfra carves each zone a private /(p+4) and a public /(p+8) out of a /p VPC; an ALB needs
# public subnets of at least /27, so /19 is the smallest VPC that layout fits (AWS allows /16-/28).
VPC_PREFIXES = range(16, 20)
_SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")


class VpcSettings(StrictModel):
    """Network. Default: a new /16 VPC across three AZs with one NAT gateway per AZ."""

    cidr: str = "10.0.0.0/16"
    nat_gateways: Literal["per_az", "single"] = "per_az"
    """`single` saves money outside prod at the cost of AZ-independent egress."""
    endpoints: EndpointMode = "interface"
    """VPC endpoints of a created VPC (`mlinfra.components.vpc_endpoints`): `interface`
    (default) the free S3 gateway plus ECR, STS, Secrets Manager and CloudWatch Logs interface
    endpoints, so image pulls and model downloads never cross the NAT gateway; `gateway` the
    S3 one only (layers and models, no fixed cost); `none`."""
    availability_zones: tuple[str, ...] = ()
    """Default: the region's a, b and c zones."""
    existing_vpc_id: str | None = None
    """Use an existing VPC instead (then subnet ids are required)."""
    private_subnet_ids: tuple[str, ...] = ()
    public_subnet_ids: tuple[str, ...] = ()

    @field_validator("cidr")
    @classmethod
    def _check_cidr(cls, v: str) -> str:
        _cidr(v)
        network = ipaddress.ip_network(v)
        if network.version != 4 or network.prefixlen not in VPC_PREFIXES:
            raise ValueError(
                f"must be an IPv4 block from /{VPC_PREFIXES.start} to /{VPC_PREFIXES.stop - 1} "
                "(each zone gets a private /p+4 and a public /p+8 subnet, and an ALB needs "
                "/27 or larger); example: 10.0.0.0/16"
            )
        return v

    @field_validator("private_subnet_ids", "public_subnet_ids")
    @classmethod
    def _subnets(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [str(s)[:40] for s in v if not _SUBNET_ID.match(s)]
        if bad:
            raise ValueError(f"subnet ids look like subnet-0123456789abcdef0, got {bad[:3]}")
        if len(set(v)) != len(v):
            raise ValueError("subnet ids must not repeat")
        return v

    @model_validator(mode="after")
    def _existing(self) -> VpcSettings:
        if self.existing_vpc_id is not None:
            if not re.match(r"^vpc-[0-9a-f]{8,17}$", self.existing_vpc_id):
                raise ValueError("existing_vpc_id must look like vpc-0123456789abcdef0")
            if len(self.private_subnet_ids) < 2 or len(self.public_subnet_ids) < 2:
                raise ValueError("an existing VPC needs private_subnet_ids and public_subnet_ids (2 or more each)")
        elif self.private_subnet_ids or self.public_subnet_ids:
            raise ValueError("subnet ids are only used together with existing_vpc_id")
        if self.availability_zones and len(self.availability_zones) not in (2, 3):
            raise ValueError("availability_zones must list 2 or 3 zones")
        if len(set(self.availability_zones)) != len(self.availability_zones):
            raise ValueError("availability_zones must not repeat a zone")
        return self


class SystemNodes(NodeGroupSize):
    """The managed node group Karpenter and the cluster add-ons run on (services run on the
    Karpenter pools of `mlinfra:nodePools`). Default: 2-6 m6i.large."""

    instance_types: tuple[str, ...] = ("m6i.large",)

    @field_validator("instance_types")
    @classmethod
    def _types(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("instance_types must list at least one EC2 instance type such as m6i.large")
        return check_instance_types(v, cpu_only=True)


class EksSettings(StrictModel):
    """Cluster. Default: the newest Kubernetes version with pinned add-on builds, an API endpoint
    reachable only from `deployer_cidrs`, all control-plane logs, KMS-encrypted secrets."""

    version: str = DEFAULT_VERSION
    """A version from mlinfra.spec.eks_versions (the EKS calendar, dated)."""
    extended_support: bool = False
    """Stay on a version past its standard support, at the extended-support price. Default
    upgrade policy STANDARD: EKS upgrades such a cluster itself instead of billing more."""
    endpoint_public_access: bool = True
    """Public endpoint limited to deployer_cidrs (public egress IPs of CI and admins). False:
    private only, then deployer_cidrs are in-VPC or peered ranges (a runner inside the VPC)."""
    deployer_cidrs: tuple[str, ...] = ()
    """Required: where `pulumi up` and kubectl reach the API server from."""
    admins: tuple[str, ...] = ()
    """IAM role or user ARNs given cluster-admin through EKS access entries; must include the
    identity that runs `pulumi up` (CI role, humans)."""
    addon_versions: dict[str, str] = Field(default_factory=dict)
    """Pin an EKS managed add-on build (e.g. vpc-cni: v1.20.4-eksbuild.2); default: the build
    mlinfra.spec.eks_versions.ADDON_VERSIONS pins for the cluster's version."""
    ami_version: str = NODE_AMI_RELEASE
    """The EKS-optimized AL2023 AMI release (vYYYYMMDD) of the Karpenter nodes, or `latest` to
    follow every AMI AWS publishes (each one replaces the nodes). Default: the release
    mlinfra.spec.eks_versions.NODE_AMI_RELEASE pins."""
    system_nodes: SystemNodes = Field(default_factory=SystemNodes)
    log_retention_days: Literal[7, 14, 30, 60, 90, 180, 365] = 90

    @field_validator("version")
    @classmethod
    def _version(cls, v: str) -> str:
        if v not in KUBERNETES_VERSIONS:
            allowed = ", ".join(repr(k) for k in sorted(KUBERNETES_VERSIONS))
            raise ValueError(f"{v!r} is not a version EKS creates; allowed: {allowed}")
        return v

    @field_validator("ami_version")
    @classmethod
    def _ami(cls, v: str) -> str:
        # amazon-eks-ami names its releases vYYYYMMDD; Karpenter's alias is al2023@<this>.
        if v != "latest" and not _AMI_RELEASE.match(v):
            raise ValueError(
                f"{v!r} is not an EKS AMI release; allowed: vYYYYMMDD (such as {NODE_AMI_RELEASE}, "
                "from the amazon-eks-ami release notes) or latest"
            )
        return v

    @field_validator("deployer_cidrs")
    @classmethod
    def _cidrs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for c in v:
            _cidr(c)
            if ipaddress.ip_network(c).prefixlen == 0:
                raise ValueError(f"{c} exposes the API server to everyone; name your CIDRs")
        return v

    @field_validator("admins")
    @classmethod
    def _admins(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [a for a in v if not _PRINCIPAL_ARN.match(a)]
        if bad:
            raise ValueError(
                f"not IAM role or user ARNs: {bad}; allowed: arn:aws:iam::<account>:role/<name> "
                "or :user/<name> (not an sts assumed-role session)"
            )
        return v

    @field_validator("addon_versions")
    @classmethod
    def _addons(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - set(MANAGED_ADDONS))
        if unknown:
            raise ValueError(f"unknown add-ons {unknown}; allowed: {', '.join(sorted(MANAGED_ADDONS))}")
        return v

    @model_validator(mode="after")
    def _public_ranges(self) -> EksSettings:
        private = [c for c in self.deployer_cidrs if _in_vpc_range(c)]
        if self.endpoint_public_access and private:
            raise ValueError(
                f"deployerCidrs {private} are private ranges, which never reach a public "
                "endpoint; allowed: public egress CIDRs, or endpointPublicAccess: false for an "
                "in-VPC deployer"
            )
        return self

    def deploy_problem(self) -> str | None:
        """What stops a first `pulumi up` of an EKS stack (only checked with platform eks)."""
        problem = version_problem(self.version, self.extended_support, datetime.now(UTC).date())
        if problem:
            return f"version {self.version}: {problem}"
        problem = node_ami_problem(self.ami_version, self.version)
        if problem:
            return f"amiVersion {self.ami_version}: {problem}"
        missing = missing_addon_pins(self.version, self.addon_versions)
        if missing:
            pinned = ", ".join(sorted(ADDON_VERSIONS))
            return (
                f"version {self.version}: no pinned EKS add-on builds for {', '.join(missing)} (the add-on "
                f"table of {ADDONS_CHECKED} pins {pinned}); allowed: one of those versions, or a build "
                "for each under addonVersions (aws eks describe-addon-versions --kubernetes-version "
                f"{self.version})"
            )
        if not self.deployer_cidrs:
            where = (
                "public egress CIDRs of your CI runners and admins"
                if self.endpoint_public_access
                else "the in-VPC or peered CIDRs your deployer runs in"
            )
            return (
                f"deployerCidrs is required: the {where}, such as 203.0.113.0/24; without it nothing "
                "reaches the API server and every Kubernetes resource times out"
            )
        if not self.admins:
            return (
                "admins is required: IAM role or user ARNs (CI's deploy role, humans) given cluster-admin, "
                "such as arn:aws:iam::123456789012:role/deployer; nobody else, not even the cluster's "
                "creator, can reach it"
            )
        return None


class Suppression(StrictModel):
    """Silence one policy finding, with a written reason."""

    id: str
    resource: str = "*"
    reason: Annotated[str, Field(min_length=10)]


class PolicySettings(StrictModel):
    suppressions: tuple[Suppression, ...] = ()


class StackSettings(StrictModel):
    """The `mlinfra:` namespace of `stacks/Pulumi.<stack>.yaml`."""

    platform: Literal["eks", "ecs"] = "eks"
    tier: Literal["dev", "staging", "prod"] = "staging"
    """`prod` turns on the production rules (HA minimums, deletion protection)."""
    region: str
    """From `aws:region`."""
    certificate_arn: str
    """ACM certificate for the HTTPS listener."""
    domain: str
    """DNS zone for host routing: each service answers at `<service>.<domain>`."""
    hosted_zone_id: str | None = None
    """Route 53 hosted zone of `domain` (or of a parent): each service's name points at its load
    balancer (ECS: alias records; EKS: external-dns, records owned by this stack). Default: none,
    and DNS is left to you (the stack's `dns` output says so)."""
    vpc: VpcSettings = Field(default_factory=VpcSettings)
    eks: EksSettings = Field(default_factory=EksSettings)
    gpu_node_groups: dict[str, Any] = Field(default_factory=dict)
    """Retired: EKS GPU capacity is `node_pools` now; any value is an error that says so."""
    node_pools: dict[str, NodePool] = Field(default_factory=default_pools)
    """Karpenter node pools (EKS) by name (`mlinfra.spec.nodepools`). Default: one CPU pool,
    no GPU pool (a GPU service is refused until its GPU type has one)."""
    services: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per-service overrides of any ModelService field."""
    secrets: dict[str, str] = Field(default_factory=dict)
    """Secret values (Pulumi secret config) by name, stored as Kubernetes Secrets."""
    secret_arns: dict[str, str] = Field(default_factory=dict)
    """Existing AWS Secrets Manager secrets by name."""
    policy: PolicySettings = Field(default_factory=PolicySettings)
    alerting: AlertingSettings | None = None
    """Alert receivers and routes (see `mlinfra.spec.alerting`). Default: nobody is told."""
    ecs: EcsSettings = Field(default_factory=EcsSettings)
    """ECS platform settings, only with platform ecs (see `mlinfra.spec.ecs`)."""
    releases: dict[str, ReleasePin] = Field(default_factory=dict)
    """Images pinned by `mlinfra rollback` / `mlinfra promote`, by service name (`mlinfra.spec.release`)."""

    @field_validator("alerting", mode="before")
    @classmethod
    def _alerting(cls, v: Any) -> Any:
        # Pulumi.yaml's typed config defaults `mlinfra:alerting` to {} (a declared key without a
        # default would be required): an empty mapping means "not configured".
        return None if v == {} else v

    @field_validator("region")
    @classmethod
    def _region(cls, v: str) -> str:
        if not re.match(r"^[a-z]{2}(-gov)?-[a-z]+-\d$", v):
            raise ValueError("aws:region must be an AWS region such as us-east-1")
        return v

    @field_validator("certificate_arn")
    @classmethod
    def _cert(cls, v: str) -> str:
        if not _ACM_ARN.match(v):
            raise ValueError("must be an ACM certificate ARN: arn:aws:acm:<region>:<account>:certificate/<uuid>")
        return v

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        if not re.match(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}$", v):
            raise ValueError("must be a lowercase DNS domain such as ml.example.com")
        return v

    @field_validator("hosted_zone_id")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        v = v or None  # Pulumi.yaml's default is the empty string
        if v is not None and not re.match(r"^Z[0-9A-Z]{1,31}$", v):
            raise ValueError("must be a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ")
        return v

    @field_validator("secret_arns")
    @classmethod
    def _arns(cls, v: dict[str, str]) -> dict[str, str]:
        bad = {k: a for k, a in v.items() if not _SECRET_ARN.match(a)}
        if bad:
            raise ValueError(f"not Secrets Manager ARNs: {sorted(bad)}")
        return v

    @field_validator("gpu_node_groups")
    @classmethod
    def _retired_gpu_groups(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if not v:
            return v  # Pulumi.yaml's typed config still declares the key, with default {}
        if info.data.get("platform", "eks") == "ecs":
            raise ValueError(
                "EKS node groups do nothing on an ECS stack; declare GPU capacity under mlinfra:ecs.gpuCapacity instead"
            )
        raise ValueError(OLD_GPU_KEYS_MESSAGE)

    @field_validator("node_pools")
    @classmethod
    def _pools(cls, v: dict[str, NodePool], info: ValidationInfo) -> dict[str, NodePool]:
        # {} is Pulumi.yaml's typed-config default: "not configured".
        if info.data.get("platform", "eks") == "ecs":
            if v:
                raise ValueError(
                    "Karpenter node pools are EKS only; on ECS declare GPU capacity under mlinfra:ecs.gpuCapacity"
                )
            return v
        return check_pools(v or default_pools())

    @field_validator("ecs")
    @classmethod
    def _ecs_only_on_ecs(cls, v: EcsSettings, info: ValidationInfo) -> EcsSettings:
        # Runs only when the stack sets mlinfra:ecs; on an EKS stack it would silently do nothing.
        if info.data.get("platform", "eks") != "ecs":
            raise ValueError("only used when mlinfra:platform is ecs; remove it or set platform: ecs")
        return v

    def foreign_zones(self) -> list[str]:
        """Availability zones that are not zones of the stack's region."""
        return [z for z in self.vpc.availability_zones if not re.fullmatch(re.escape(self.region) + "[a-z]", z)]

    @property
    def production(self) -> bool:
        return self.tier == "prod"

    @property
    def zones(self) -> tuple[str, ...]:
        return self.vpc.availability_zones or tuple(f"{self.region}{s}" for s in "abc")

    def gpu_capacity(self) -> dict[str, list[str]]:
        """GPU type -> node pool names that provide it."""
        out: dict[str, list[str]] = {}
        for name, pool in sorted(self.node_pools.items()):
            if pool.gpu_type is not None:
                out.setdefault(pool.gpu_type, []).append(name)
        return out
