"""The runtime contract: what the image, both platforms, the policy rules and the CLI agree on.

Defined once here and imported by all of them. This module is copied into the image with the
rest of the runtime, so it imports nothing outside the standard library (no pulumi, no
pydantic). `ServingSettings` (settings.py) reads every `*_ENV` variable below; a test holds
each name against its fields and against the environment both platforms render.
"""

from __future__ import annotations

RUN_AS_UID = 10001
"""Numeric user and group of the server process, so `runAsNonRoot` can verify it without
/etc/passwd; the image's USER, the pod's securityContext and the ECS container's `user`."""

HEALTH_PATH = "/health"
"""Liveness: the process answers. Never gates traffic."""
READY_PATH = "/ready"
"""Readiness: the model is loaded and warmed; load balancers route only to ready replicas."""
METRICS_PATH = "/metrics"
"""Prometheus exposition of the metrics named in `metric_names.py`."""

ENV_PREFIX = "MLINFRA_"
"""Every runtime setting is an environment variable `MLINFRA_<FIELD>` (pydantic-settings)."""
MODEL_URI_ENV = "MLINFRA_MODEL_URI"
MODEL_NAME_ENV = "MLINFRA_MODEL_NAME"
FRAMEWORK_ENV = "MLINFRA_FRAMEWORK"
MODEL_SHA256_ENV = "MLINFRA_MODEL_SHA256"
TRUSTED_PICKLE_ENV = "MLINFRA_TRUSTED_PICKLE"
MODEL_CACHE_DIR_ENV = "MLINFRA_MODEL_CACHE_DIR"
PORT_ENV = "MLINFRA_PORT"
MAX_BATCH_SIZE_ENV = "MLINFRA_MAX_BATCH_SIZE"
MAX_BATCH_WAIT_MS_ENV = "MLINFRA_MAX_BATCH_WAIT_MS"
REQUEST_TIMEOUT_S_ENV = "MLINFRA_REQUEST_TIMEOUT_S"
KEEPALIVE_TIMEOUT_S_ENV = "MLINFRA_KEEPALIVE_TIMEOUT_S"
API_KEYS_ENV = "MLINFRA_API_KEYS"
REQUIRE_API_KEY_ENV = "MLINFRA_REQUIRE_API_KEY"
DRAIN_TIMEOUT_S_ENV = "MLINFRA_DRAIN_TIMEOUT_S"

SETTINGS_ENV = (
    MODEL_URI_ENV,
    MODEL_NAME_ENV,
    FRAMEWORK_ENV,
    MODEL_SHA256_ENV,
    TRUSTED_PICKLE_ENV,
    MODEL_CACHE_DIR_ENV,
    PORT_ENV,
    MAX_BATCH_SIZE_ENV,
    MAX_BATCH_WAIT_MS_ENV,
    REQUEST_TIMEOUT_S_ENV,
    KEEPALIVE_TIMEOUT_S_ENV,
    API_KEYS_ENV,
    REQUIRE_API_KEY_ENV,
    DRAIN_TIMEOUT_S_ENV,
)
"""Every variable the SDK sets for the runtime (each one a `ServingSettings` field)."""

DEPLOYED_MODEL_CACHE_DIR = "/tmp/model"
"""Where a deployed replica downloads its model: /tmp is the writable scratch volume under a
read-only root filesystem on both platforms."""
BAKED_MODEL_DIR = "/opt/model"
"""Where a baked model lives inside the image."""

API_KEYS_SECRET = "api-keys"
"""The secret a service with `auth="api_key"` lists; it reaches the runtime as `API_KEYS_ENV`."""

SECRET_ENV_PREFIX = "MLINFRA_SECRET_"
"""A service's other secrets reach its process as `MLINFRA_SECRET_<NAME>`. They belong to the
team's code, not to the runtime, so they are not settings."""
SECRET_ARN_ENV_PREFIX = "MLINFRA_SECRET_ARN_"
"""On EKS a secret given as an existing Secrets Manager ARN reaches the process as
`MLINFRA_SECRET_ARN_<NAME>` holding the ARN (the pod's IAM role may read it)."""

KEEPALIVE_MARGIN_S = 15
"""The runtime keeps idle connections this much longer than the load balancer, so the load
balancer, not the server, always closes first and no request races a server-side close."""

FRAMEWORKS = ("sklearn", "xgboost", "lightgbm", "onnx", "torchscript", "compiled")
"""Every framework the runtime can load. `compiled`: a model already compiled by
`python -m mlinfra.serving.compiled` (numpy only at run time, so its image carries no framework)."""

COMPILED_SUFFIX = ".mlinfra.npz"
"""The compiled form of `model.skops` is `model.skops.mlinfra.npz`."""

# `.json` is claimed by XGBoost: it is XGBoost's documented JSON model format, while
# LightGBM's own JSON dump cannot be loaded back as a model. LightGBM's text model
# (`.txt`, `.lgb`) is the format `Booster.save_model` writes.
EXTENSIONS: dict[str, str] = {
    ".skops": "sklearn",
    ".joblib": "sklearn",
    ".pkl": "sklearn",
    ".pickle": "sklearn",
    ".ubj": "xgboost",
    ".json": "xgboost",
    ".xgb": "xgboost",
    ".txt": "lightgbm",
    ".lgb": "lightgbm",
    ".onnx": "onnx",
    ".pt": "torchscript",
    ".pth": "torchscript",
    ".torchscript": "torchscript",
    COMPILED_SUFFIX: "compiled",
}
"""Model file extension -> framework, for inference when `framework` is not given."""

PICKLE_EXTENSIONS = frozenset({".joblib", ".pkl", ".pickle"})
"""Formats whose loading executes arbitrary code from the file; they need an explicit opt-in."""


def secret_env(secret: str) -> str:
    """The variable a secret's value reaches the process in: `fraud-key` -> `MLINFRA_SECRET_FRAUD_KEY`;
    `api-keys` is the runtime's own `MLINFRA_API_KEYS`."""
    if secret == API_KEYS_SECRET:
        return API_KEYS_ENV
    return SECRET_ENV_PREFIX + _env_suffix(secret)


def secret_arn_env(secret: str) -> str:
    """The variable holding the ARN of a secret the process reads itself (EKS, existing ARN)."""
    return SECRET_ARN_ENV_PREFIX + _env_suffix(secret)


def _env_suffix(secret: str) -> str:
    return secret.upper().replace("-", "_")


def keepalive_timeout_s(load_balancer_idle_timeout_s: int) -> int:
    """The runtime's keep-alive for a load balancer with this idle timeout."""
    return load_balancer_idle_timeout_s + KEEPALIVE_MARGIN_S


def model_env(
    *,
    model_uri: str,
    model_name: str,
    framework: str,
    port: int,
    model_sha256: str | None = None,
    trusted_pickle: bool = False,
) -> dict[str, str]:
    """The variables that say which model to serve and how to verify it: the image's ENV and
    the base of every deployed replica's environment."""
    env = {
        MODEL_URI_ENV: model_uri,
        MODEL_NAME_ENV: model_name,
        FRAMEWORK_ENV: framework,
        PORT_ENV: str(port),
    }
    if model_sha256:
        env[MODEL_SHA256_ENV] = model_sha256
    if trusted_pickle:
        env[TRUSTED_PICKLE_ENV] = "true"
    return env


def settings_field(env_name: str) -> str:
    """`MLINFRA_MODEL_URI` -> `model_uri`: the `ServingSettings` field a variable sets."""
    if not env_name.startswith(ENV_PREFIX):
        raise ValueError(f"{env_name} is not a runtime setting (no {ENV_PREFIX} prefix)")
    return env_name[len(ENV_PREFIX) :].lower()
