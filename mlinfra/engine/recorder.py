"""Recording Pulumi mocks: the offline engine and the component tests share this one mock.

Resources get deterministic fake outputs derived from their names (ids, ARNs, URLs), so two
runs of the same program produce byte-identical plans.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pulumi.runtime import mocks, rpc

ACCOUNT = "123456789012"
SECRET = "[secret]"


@dataclass
class RecordedResource:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    dependencies: list[str] = field(default_factory=list)
    provider: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    """Resource options the engine acts on: ignoreChanges, protect, customTimeouts,
    deleteBeforeReplace, retainOnDelete, replaceOnChanges, aliases (only those that are set)."""


def _short_hash(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:17]


def mask_secrets(value: Any) -> Any:
    """Replace every secret value with the mask, recursively.

    A secret map or list keeps its shape (keys are names, not secrets) and only its leaf
    values are masked, so rendered objects stay schema-valid: a Kubernetes Secret's
    `stringData` stays a map of key -> "[secret]".
    """
    if rpc.is_rpc_secret(value):
        return _mask_leaves(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: mask_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v) for v in value]
    return value


def _mask_leaves(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask_leaves(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_leaves(v) for v in value]
    return SECRET


def plain(value: Any) -> Any:
    """Inputs as JSON-able data: assets and resource references become strings."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire form turns every number into a float
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    urn = getattr(value, "urn", None)
    if urn is not None:
        return f"<resource {type(value).__name__}>"
    return str(value)


class RecordingMocks(mocks.Mocks):
    """Fake outputs per resource type, computed from inputs and the logical name only."""

    def __init__(self, region: str = "us-east-1") -> None:
        self.region = region

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        name, typ = args.name, args.typ
        rid = args.resource_id or f"{name}-{_short_hash(typ, name)[:8]}"
        state = dict(args.inputs)
        service = typ.split(":")[1].split("/")[0] if ":" in typ else "x"
        state.setdefault("arn", f"arn:aws:{service}:{self.region}:{ACCOUNT}:{name}")
        state.setdefault("name", args.inputs.get("name", rid))
        state.update(self._extra(typ, name, rid, args.inputs))
        return rid, state

    def _extra(self, typ: str, name: str, rid: str, inputs: dict[str, Any]) -> dict[str, Any]:
        h = _short_hash(typ, name)
        if typ == "aws:eks/cluster:Cluster":
            return {
                "endpoint": f"https://{h.upper()}.gr7.{self.region}.eks.amazonaws.com",
                "certificateAuthority": {"data": "LS0tLS1CRUdJTi1GQUtFLUNBLS0tLS0="},
                "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{self.region}.amazonaws.com/id/{h.upper()}"}]}],
                "vpcConfig": {**(inputs.get("vpcConfig") or {}), "clusterSecurityGroupId": f"sg-{h[:17]}"},
            }
        if typ == "random:index/randomPassword:RandomPassword":
            # A stand-in with the requested length; never a real secret (offline only).
            return {"result": ("offline" + h)[: int(inputs.get("length") or 16)]}
        if typ == "aws:iam/role:Role":
            return {"arn": f"arn:aws:iam::{ACCOUNT}:role/{rid}", "name": rid}
        if typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            url = str(inputs.get("url", "")).removeprefix("https://")
            return {"arn": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{url}"}
        if typ == "aws:kms/key:Key":
            return {"arn": f"arn:aws:kms:{self.region}:{ACCOUNT}:key/{h[:8]}-{h[8:12]}-{h[12:16]}", "keyId": h}
        if typ == "aws:ecr/repository:Repository":
            return {"repositoryUrl": f"{ACCOUNT}.dkr.ecr.{self.region}.amazonaws.com/{rid}", "registryId": ACCOUNT}
        if typ == "docker:index/image:Image":
            digest = hashlib.sha256(str(inputs.get("imageName", name)).encode()).hexdigest()
            image_name = str(inputs.get("imageName", name))
            return {"repoDigest": f"{image_name.rsplit(':', 1)[0]}@sha256:{digest}"}
        if typ == "aws:ec2/launchTemplate:LaunchTemplate":
            return {"latestVersion": 1}
        if typ.startswith("aws:ec2/"):
            prefix = {
                "vpc:Vpc": "vpc",
                "subnet:Subnet": "subnet",
                "eip:Eip": "eipalloc",
                "natGateway:NatGateway": "nat",
                "internetGateway:InternetGateway": "igw",
                "routeTable:RouteTable": "rtb",
                "securityGroup:SecurityGroup": "sg",
                "launchTemplate:LaunchTemplate": "lt",
            }.get(typ.split("/", 1)[1], "")
            if prefix:
                return {"id": f"{prefix}-{h}"}
        if typ == "aws:lb/loadBalancer:LoadBalancer":
            return {
                "dnsName": f"{rid}.{self.region}.elb.amazonaws.com",
                "arnSuffix": f"app/{rid}/{h[:16]}",
                "zoneId": "Z35SXDOTRQ7X7K",
            }
        if typ == "aws:lb/targetGroup:TargetGroup":
            return {"arnSuffix": f"targetgroup/{rid}/{h[:16]}"}
        if typ == "aws:secretsmanager/secret:Secret":
            return {"arn": f"arn:aws:secretsmanager:{self.region}:{ACCOUNT}:secret:{rid}-{h[:6]}"}
        if typ == "aws:s3/bucket:Bucket":
            bucket = str(inputs.get("bucket") or rid)
            return {"bucket": bucket, "arn": f"arn:aws:s3:::{bucket}", "id": bucket}
        if typ == "aws:amp/workspace:Workspace":
            # AMP's IAM service prefix is `aps`, not the provider module name `amp`; policies
            # scoped to the workspace must see the ARN AWS really returns.
            return {
                "arn": f"arn:aws:aps:{self.region}:{ACCOUNT}:workspace/ws-{h}",
                "prometheusEndpoint": f"https://aps-workspaces.{self.region}.amazonaws.com/workspaces/ws-{h}/",
            }
        return {}

    def call(self, args: mocks.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        token = args.token
        if token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            return {
                "userName": "AWS",
                "password": "offline-ecr-token",
                "proxyEndpoint": f"https://{ACCOUNT}.dkr.ecr.{self.region}.amazonaws.com",
                "authorizationToken": "offline",
                "expiresAt": "2099-01-01T00:00:00Z",
                "id": self.region,
            }
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:user/offline",
                "userId": "OFFLINE",
                "id": ACCOUNT,
            }
        if token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}
        if token == "aws:elb/getServiceAccount:getServiceAccount":
            # The regional ELB log-delivery account; a fixed stand-in keeps plans deterministic.
            return {"arn": "arn:aws:iam::127311923021:root", "id": "127311923021", "region": self.region}
        if token == "aws:secretsmanager/getSecretVersion:getSecretVersion":
            # Read at deploy time (alert receiver credentials); offline there is no value.
            arn = str(args.args.get("secretId", ""))
            return {
                "arn": arn,
                "id": arn,
                "secretId": arn,
                "secretString": "offline-secret-value",
                "versionId": "offline",
                "versionStages": ["AWSCURRENT"],
            }
        if token == "aws:ssm/getParameter:getParameter":
            name = str(args.args.get("name", ""))
            return {
                "name": name,
                "value": "ami-0123456789abcdef0",
                "type": "String",
                "id": name,
                "arn": f"arn:aws:ssm:{self.region}::parameter{name}",
                "version": 1,
                "insecureValue": "ami-0123456789abcdef0",
            }
        return {}


class RecordingMonitor(mocks.MockMonitor):
    """The mock monitor, also keeping parent, dependencies and masked inputs per resource."""

    def __init__(self, mocks_impl: RecordingMocks, on_record: Callable[[int], None] | None = None) -> None:
        super().__init__(mocks_impl)
        self.recorded: list[RecordedResource] = []
        self.on_record = on_record  # told the count so far after each resource (the CLI's progress line)

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
            self.recorded.append(
                RecordedResource(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent,
                    custom=bool(request.custom),
                    inputs=plain(mask_secrets(inputs)),
                    dependencies=sorted(set(request.dependencies)),
                    provider=request.provider.split("::")[-1] if request.provider else "",
                    options=_options(request),
                )
            )
            if self.on_record is not None:
                self.on_record(len(self.recorded))
        return response


def _alias(alias: Any) -> str:
    """An alias as `<type>::<name>` (spec form) or the URN it names."""
    if alias.urn:
        return str(alias.urn)
    return f"{alias.spec.type}::{alias.spec.name}"


def _options(request: Any) -> dict[str, Any]:
    """The resource options of a RegisterResource request that change what `up`/`destroy` do."""
    out: dict[str, Any] = {}
    if request.ignoreChanges:
        out["ignoreChanges"] = sorted(request.ignoreChanges)
    if request.protect:
        out["protect"] = True
    if request.deleteBeforeReplace:
        out["deleteBeforeReplace"] = True
    if getattr(request, "retainOnDelete", False):
        out["retainOnDelete"] = True
    if request.replaceOnChanges:
        out["replaceOnChanges"] = sorted(request.replaceOnChanges)
    aliases = [_alias(a) for a in getattr(request, "aliases", [])] + list(getattr(request, "aliasURNs", []))
    if aliases:
        out["aliases"] = aliases
    timeouts = request.customTimeouts
    if timeouts is not None and (timeouts.create or timeouts.update or timeouts.delete):
        out["customTimeouts"] = {
            k: getattr(timeouts, k) for k in ("create", "update", "delete") if getattr(timeouts, k)
        }
    return out
