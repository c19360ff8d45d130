"""Runtime configuration: environment variables prefixed `MLINFRA_`, overridable by CLI flags.

Nothing is read at import time; `ServingSettings()` reads the environment when called.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mlinfra.serving.contract import FRAMEWORKS


class ServingSettings(BaseSettings):
    """Every knob of the runtime. Defaults are what the generated image runs with."""

    model_config = SettingsConfigDict(env_prefix="MLINFRA_", extra="ignore", frozen=True)

    model_uri: str = Field(min_length=1, description="s3://, https://, file:// or a path.")
    model_name: str = Field(
        default="model",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$",
        description="Name in /v2/models/{name} and in the `model` metric label.",
    )
    framework: str | None = Field(default=None, description="Default: inferred from the model file's extension.")
    model_sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="Default: not verified (the digest is still logged).",
    )
    trusted_pickle: bool = Field(default=False, description="Allow joblib/pickle models, which can run code on load.")
    model_cache_dir: str = Field(default="/tmp/mlinfra-model", description="Where remote models are downloaded.")

    host: str = "0.0.0.0"  # a container must listen on its pod/task address
    port: int = Field(default=8080, ge=1, le=65535)

    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Larger bodies: 413.")
    max_batch_size: int = Field(default=32, ge=1, description="Rows per model call.")
    max_batch_wait_ms: float = Field(
        # 0: callers that wait for their answer before sending again (every HTTP client with a
        # connection pool) cannot add rows while the model sits idle, so a timed wait only idles
        # the core: 1 ms capped a 32-connection load at ~14k req/s for every family measured.
        default=0.0,
        ge=0.0,
        description="Extra wait to fill a batch; only applied while requests arrive together "
        "(previous batch and queue both hold more than one), so a lone request never waits. "
        "Worth setting only for models whose batch call costs little more than one row (GPUs) "
        "under many independent callers.",
    )
    max_queue: int = Field(default=256, ge=1, description="Requests waiting for the model; beyond it: 429.")
    request_timeout_s: float = Field(default=10.0, gt=0.0, description="Beyond it: 504.")
    keepalive_timeout_s: float = Field(default=75.0, gt=0.0, description="Idle keep-alive; longer than the ALB's 60 s.")
    drain_timeout_s: float = Field(
        default=25.0, ge=0.0, description="After SIGTERM, wait this long for in-flight work."
    )
    inference_threads: int = Field(
        default=1,
        ge=1,
        description="Threads running model calls (batches run one at a time per thread; native code releases the GIL).",
    )
    inline_max_ms: float = Field(
        default=2.0,
        ge=0.0,
        description="Model calls averaging less than this run on the event loop thread "
        "(no thread hand-off); slower ones in the inference threads. 0: always threads.",
    )
    fast_trees: bool = Field(
        default=True,
        description="Walk all trees of a scikit-learn HistGradientBoosting model at once "
        "(used only if it reproduces sklearn's output exactly at load); false: sklearn's own.",
    )
    warmup: bool = Field(default=True, description="One model call on zeros before ready.")
    input_features: int | None = Field(
        default=None,
        ge=1,
        description="Feature count for models that do not record it (TorchScript); "
        "default: taken from the model where it says.",
    )
    api_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated keys; if set, /predict and /v2 infer need "
        "`Authorization: Bearer <key>` or `X-API-Key`. Default: no key check.",
    )
    require_api_key: bool = Field(
        default=False,
        description="Refuse to start unless MLINFRA_API_KEYS holds at least one key (set "
        "for every service declared with API-key auth), so a missing or empty secret can "
        "never serve without authentication.",
    )
    max_connections: int = Field(
        default=4096,
        ge=1,
        description="Open connections; beyond it the oldest idle one is closed, or the new one "
        "gets 503. Also kept below the process's open-file limit.",
    )
    model_max_bytes: int = Field(default=20 * 1024**3, ge=1, description="Largest model download accepted.")
    download_timeout_s: float = Field(default=900.0, gt=0.0, description="Deadline for the whole model download.")
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")

    @field_validator("framework")
    @classmethod
    def _known_framework(cls, value: str | None) -> str | None:
        if value is not None and value not in FRAMEWORKS:
            raise ValueError(f"framework must be one of {', '.join(FRAMEWORKS)}")
        return value

    @model_validator(mode="after")
    def _keys_fail_closed(self) -> ServingSettings:
        # A key list that is set but holds no key (an empty or badly written secret: "",
        # ",", " , ") means auth was intended: refuse to start rather than serve everyone.
        if self.api_keys is not None and not self.api_key_set():
            raise ValueError(
                "MLINFRA_API_KEYS is set but holds no key (empty or only commas/spaces); "
                "refusing to start without authentication"
            )
        if self.require_api_key and self.api_keys is None:
            raise ValueError(
                "MLINFRA_REQUIRE_API_KEY is true but MLINFRA_API_KEYS is not set; "
                "refusing to start without authentication"
            )
        return self

    def api_key_set(self) -> frozenset[str]:
        if self.api_keys is None:
            return frozenset()
        return frozenset(k.strip() for k in self.api_keys.get_secret_value().split(",") if k.strip())


def describe_errors(exc: ValidationError) -> str:
    """One line naming each bad setting by its variable name, without echoing values (a bad
    value may be a secret)."""
    problems = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        where = f"{field} (MLINFRA_{field.upper()})" if field else "settings"
        problems.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)
