"""The validated form of one `ModelService` declaration (after stack overrides)."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal, cast, get_args

from pydantic import Field, field_validator, model_validator

from mlinfra.serving.contract import API_KEYS_SECRET, COMPILED_SUFFIX, ENV_PREFIX, FRAMEWORKS
from mlinfra.serving.frameworks import infer_framework as _runtime_infer_framework
from mlinfra.serving.frameworks import is_pickle
from mlinfra.serving.metric_names import LATENCY_BUCKETS
from mlinfra.spec.base import StrictModel
from mlinfra.spec.quantities import parse_cpu_millicores, parse_memory_mib
from mlinfra.spec.rollout import Rollout

# The runtime contract's FRAMEWORKS as a type; a test holds the two equal.
Framework = Literal["sklearn", "xgboost", "lightgbm", "onnx", "torchscript", "compiled"]
GpuType = Literal["a10g", "l4", "t4", "l40s"]

# AWS target-group names are capped at 32 characters and Pulumi appends an 8-character
# random suffix to auto-named resources, so "<name>-tg-xxxxxxx" must still fit.
MAX_NAME_LENGTH = 20
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

ALLOWED_URI = "s3://bucket/key, https://host/path, file:///abs/path or a relative path"


def infer_framework(model_uri: str) -> Framework | None:
    """The framework the runtime would pick for this file, by its extension (None: unknown)."""
    return cast("Framework | None", _runtime_infer_framework(model_uri))


def uri_scheme(model_uri: str) -> str:
    """`s3`, `https`, `file` (for file:// and plain paths) or the unknown scheme itself."""
    if "://" not in model_uri:
        return "file"
    return model_uri.split("://", 1)[0].lower()


def split_s3_uri(model_uri: str) -> tuple[str, str]:
    """`s3://bucket/a/b/model.skops` -> (`bucket`, `a/b/model.skops`)."""
    rest = model_uri[len("s3://") :]
    bucket, _, key = rest.partition("/")
    return bucket, key


class Autoscaling(StrictModel):
    """Horizontal autoscaling bounds. Default when omitted: a fixed size of `replicas`."""

    min_replicas: Annotated[int, Field(ge=0, le=1000)]
    """0 (scale to zero) only on EKS, for a service that is neither public nor in prod."""
    max_replicas: Annotated[int, Field(ge=1, le=1000)]
    target_cpu_percent: Annotated[int, Field(ge=10, le=95)] = 70
    """Average CPU utilisation the autoscaler aims for (default 70; CPU services only on EKS)."""
    target_requests_per_second: Annotated[int, Field(ge=1)] | None = None
    """Requests per second per replica; default: not a scaling signal."""
    target_inflight_requests: Annotated[int, Field(ge=1, le=10000)] | None = None
    """EKS: requests in flight per replica (default: the service's max_batch_size)."""
    target_gpu_percent: Annotated[int, Field(ge=10, le=100)] | None = None
    """EKS, GPU services: average GPU utilisation (dcgm-exporter) to aim for; default: not a
    scaling signal."""

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) must be <= max_replicas ({self.max_replicas})")
        return self


class Objectives(StrictModel):
    """Service level objectives over a 30-day window, which the burn-rate alerts measure.
    Defaults: 99.9% of requests without a 5xx; 99% of requests within 0.5 s."""

    availability_percent: Annotated[float, Field(ge=90, le=99.99)] = 99.9
    latency_seconds: float = 0.5
    """A bound of the runtime's latency histogram, so the share within it can be computed."""
    latency_percent: Annotated[float, Field(ge=50, le=99.99)] = 99.0

    @field_validator("latency_seconds")
    @classmethod
    def _bucket(cls, v: float) -> float:
        if v not in LATENCY_BUCKETS:
            raise ValueError(
                "must be a bound of the runtime's latency histogram; allowed: "
                + ", ".join(f"{b:g}" for b in LATENCY_BUCKETS)
            )
        return v


class ServiceSpec(StrictModel):
    """Everything mlinfra needs to deploy one model. Field docs state each default."""

    name: str
    model_uri: str
    framework: Framework | None = None
    """Default: inferred from the file extension of `model_uri`."""
    model_sha256: str | None = None
    """Pinned digest, verified before the model is deserialised. Default: not pinned."""
    gpu: bool | GpuType = False
    """`True` means one NVIDIA A10G (g5 family); or name the GPU: a10g, l4, t4, l40s."""
    gpu_count: Annotated[int, Field(ge=1, le=8, strict=True)] = 1
    """GPUs per replica when `gpu` is set (default 1)."""
    cpu: int = 0
    """Millicores per replica; accepts 0.5, 2 or "500m". Default: 1 core (3 on GPU)."""
    memory: int = 0
    """MiB per replica; accepts "2Gi". Default: 2Gi (12Gi on GPU)."""
    replicas: Annotated[int, Field(ge=1, le=1000, strict=True)] = 2
    """Fixed replica count when `autoscaling` is not set (default 2)."""
    autoscaling: Autoscaling | None = None
    secrets: tuple[str, ...] = ()
    """Secret names resolved per stack (`mlinfra:secrets` values or `mlinfra:secretArns`).
    `api-keys` reaches the runtime as MLINFRA_API_KEYS on both platforms when it is a stack
    value (on ECS also as an ARN). Others: on EKS values are files under
    /var/run/secrets/mlinfra/ and ARNs are MLINFRA_SECRET_ARN_<NAME> (the ARN, readable by the
    pod's role); on ECS each is MLINFRA_SECRET_<NAME> holding the value."""
    env: dict[str, str] = Field(default_factory=dict)
    port: Annotated[int, Field(ge=1024, le=65535)] = 8080
    """Container port (default 8080); 1024-65535 so the server needs no privileges."""
    expected_load_seconds: Annotated[int, Field(ge=1, le=3600)] = 60
    """How long loading and warming the model may take; sizes startup probes (default 60)."""
    trusted_pickle: Annotated[bool, Field(strict=True)] = False
    """Allow joblib/pickle models, which can run code when loaded (default: refused)."""
    bake_model: Annotated[bool, Field(strict=True)] = False
    """Copy the model into the image at build time (default: fetch at start-up)."""
    public: Annotated[bool, Field(strict=True)] = False
    """Internet-facing endpoint (default: internal load balancer only)."""
    auth: Literal["none", "api_key"] = "none"
    """Required when `public`: `api_key` makes the runtime check keys from the secret
    `api-keys` (which must be listed in `secrets`)."""
    allowed_cidrs: tuple[str, ...] = ()
    """Source CIDRs allowed on a public endpoint (default: any)."""
    max_batch_size: Annotated[int, Field(ge=1, le=1024)] = 32
    max_batch_wait_ms: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)] = 0.0
    """Extra wait to fill a batch while requests arrive together (the runtime's
    `MLINFRA_MAX_BATCH_WAIT_MS`). Default 0: concurrent requests still share model calls; a
    timed wait pays only for models whose batch call costs little more than one row (GPUs)."""
    request_timeout_seconds: Annotated[float, Field(gt=0, le=300, allow_inf_nan=False)] = 30.0
    slo: Objectives = Field(default_factory=Objectives)
    """Availability and latency objectives (see `Objectives` for the defaults)."""
    rollout: Rollout | None = None
    """How a new version goes live (see `mlinfra.spec.rollout`). Default: `rolling` on a dev
    stack, elsewhere a canary with 5-minute bakes: 10/50/100 on EKS, 10/100 on ECS; `rolling`
    for a spec used outside a stack."""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _DNS_1035.match(v) or len(v) > MAX_NAME_LENGTH:
            raise ValueError(
                "must be a DNS-1035 label (lowercase letters, digits and '-', starting with a "
                f"letter, not ending with '-') of at most {MAX_NAME_LENGTH} characters, so every "
                "AWS name derived from it fits (ALB target groups allow 32)"
            )
        return v

    @field_validator("model_uri")
    @classmethod
    def _uri(cls, v: str) -> str:
        if not v.strip():
            raise ValueError(f"is empty; allowed: {ALLOWED_URI}")
        if v != v.strip() or any(c.isspace() for c in v):
            raise ValueError("contains whitespace; allowed: a URI without spaces")
        if v.endswith("/"):
            raise ValueError("names a directory (ends with '/'); allowed: the URI of one model file")
        scheme = uri_scheme(v)
        if scheme not in ("s3", "https", "file"):
            raise ValueError(f"unknown scheme {scheme!r}; allowed: {ALLOWED_URI}")
        if scheme == "s3":
            bucket, key = split_s3_uri(v)
            if not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", bucket) or not key:
                raise ValueError("an s3 URI needs a valid bucket and a key: s3://bucket/path/model")
        return v

    @field_validator("gpu", mode="before")
    @classmethod
    def _gpu(cls, v: Any) -> Any:
        # Checked here so that gpu="yes" is one clear error, not a lax True or two union errors.
        if v is True or v is False or v in get_args(GpuType):
            return v
        raise ValueError(f"must be True, False or a GPU type: {', '.join(map(repr, get_args(GpuType)))}")

    @field_validator("model_sha256")
    @classmethod
    def _sha(cls, v: str | None) -> str | None:
        # The runtime compares digests case-insensitively; keep one spelling in the plan.
        if v is not None and not _SHA256.match(v.lower()):
            raise ValueError("must be 64 hex characters (a sha256 digest)")
        return None if v is None else v.lower()

    @field_validator("cpu", mode="before")
    @classmethod
    def _cpu(cls, v: Any) -> int:
        return 0 if v == 0 else parse_cpu_millicores(v)

    @field_validator("memory", mode="before")
    @classmethod
    def _memory(cls, v: Any) -> int:
        return 0 if v == 0 else parse_memory_mib(v)

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [s for s in v if not _SECRET_NAME.match(s)]
        if bad:
            raise ValueError(f"secret names must be lowercase DNS labels, got {bad}")
        if len(set(v)) != len(v):
            raise ValueError("secret names must be unique")
        return tuple(sorted(v))

    @field_validator("env")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        # The runtime reads its settings case-insensitively, so `mlinfra_x` would set MLINFRA_X.
        bad = [k for k in v if not _ENV_NAME.match(k) or k.upper().startswith(ENV_PREFIX)]
        if bad:
            raise ValueError(
                f"environment variable names must match [A-Za-z_][A-Za-z0-9_]* and not use the "
                f"reserved {ENV_PREFIX} prefix (in any letter case), got {[k[:40] for k in sorted(bad)][:5]}"
            )
        return dict(sorted(v.items()))

    @field_validator("allowed_cidrs")
    @classmethod
    def _cidrs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in v:
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError as exc:
                raise ValueError(
                    f"{str(cidr)[:50]!r} is not a CIDR block ({str(exc)[:80]}); example: 203.0.113.0/24"
                ) from None
        return v

    @model_validator(mode="after")
    def _defaults(self) -> ServiceSpec:
        # Defaults that depend on other fields; the model is frozen, so set them in place once.
        updates: dict[str, Any] = {"framework": self.framework or infer_framework(self.model_uri)}
        if self.gpu is True:
            updates["gpu"] = "a10g"
        gpu = bool(updates.get("gpu", self.gpu))
        if self.cpu == 0:
            updates["cpu"] = 3000 if gpu else 1000
        if self.memory == 0:
            updates["memory"] = 12 * 1024 if gpu else 2048
        for key, value in updates.items():
            object.__setattr__(self, key, value)
        return self

    def cross_field_problems(self) -> list[tuple[str, Any, str]]:
        """(field, value, what is allowed) for rules spanning several fields."""
        problems: list[tuple[str, Any, str]] = []
        if self.framework is None:
            problems.append(
                (
                    "framework",
                    None,
                    "cannot be inferred from the model URI's extension; allowed: " + ", ".join(FRAMEWORKS),
                )
            )
        if is_pickle(self.model_uri) and not self.trusted_pickle:
            problems.append(
                (
                    "trusted_pickle",
                    False,
                    "joblib/pickle models can run arbitrary code when loaded; save the model with "
                    "skops (.skops), or set trusted_pickle=True to accept that risk",
                )
            )
        if uri_scheme(self.model_uri) == "file" and not self.bake_model:
            problems.append(
                (
                    "bake_model",
                    False,
                    "a local model file cannot be fetched by the cluster; set bake_model=True or upload it to s3://",
                )
            )
        if self.bake_model and uri_scheme(self.model_uri) != "file" and self.model_sha256 is None:
            problems.append(
                (
                    "model_sha256",
                    None,
                    "bake_model=True with a remote model_uri needs the model's sha256 (64 hex "
                    "characters, e.g. from `sha256sum model`): the deployer's download is verified "
                    "against it and the image tag changes with it",
                )
            )
        if (self.framework == "compiled") != (infer_framework(self.model_uri) == "compiled"):
            problems.append(
                (
                    "framework",
                    self.framework,
                    f"a compiled model is a {COMPILED_SUFFIX} file (python -m mlinfra.serving.compiled) and "
                    f"such a file is only served as framework 'compiled'; model_uri {self.model_uri!r} "
                    "does not match",
                )
            )
        if self.framework == "compiled" and self.gpu:
            problems.append(
                (
                    "gpu",
                    self.gpu,
                    f"a compiled model ({COMPILED_SUFFIX}) runs on the CPU with numpy; allowed: gpu=False, or "
                    "the framework's own model file for a GPU service",
                )
            )
        if self.public and self.auth == "none":
            problems.append(("auth", "none", "a public endpoint requires authentication; allowed: api_key"))
        if self.autoscaling and self.autoscaling.target_gpu_percent is not None and self.gpu is False:
            problems.append(
                (
                    "autoscaling.target_gpu_percent",
                    self.autoscaling.target_gpu_percent,
                    "GPU utilisation is a scaling signal for GPU services only; set gpu or remove it",
                )
            )
        if self.auth == "api_key" and API_KEYS_SECRET not in self.secrets:
            problems.append(
                (
                    "secrets",
                    list(self.secrets),
                    "auth='api_key' reads the keys from the secret 'api-keys'; add it to secrets",
                )
            )
        if self.allowed_cidrs and not self.public:
            problems.append(
                (
                    "allowed_cidrs",
                    list(self.allowed_cidrs),
                    "only applies to public endpoints; set public=True or remove it",
                )
            )
        return problems

    @property
    def delivery(self) -> Rollout:
        """The rollout in force: the loader sets the stack's default; a spec built outside a
        stack (a program of your own) rolls unless it asks for a canary, which on EKS needs
        Argo Rollouts in the cluster."""
        return self.rollout or Rollout(strategy="rolling")

    @property
    def gpu_type(self) -> GpuType | None:
        return None if self.gpu is False or self.gpu is True else self.gpu

    @property
    def min_replicas(self) -> int:
        return self.autoscaling.min_replicas if self.autoscaling else self.replicas

    @property
    def max_replicas(self) -> int:
        return self.autoscaling.max_replicas if self.autoscaling else self.replicas

    @property
    def model_bucket_and_prefix(self) -> tuple[str, str] | None:
        """The bucket and key prefix the service may read, for s3 models only."""
        if uri_scheme(self.model_uri) != "s3":
            return None
        bucket, key = split_s3_uri(self.model_uri)
        prefix = key.rsplit("/", 1)[0] if "/" in key else ""
        return bucket, prefix


SERVICE_FIELDS = tuple(ServiceSpec.model_fields)
