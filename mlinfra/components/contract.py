"""The SDK side of the runtime contract: how a `ServiceSpec` becomes the runtime's environment,
and the names and policies both platforms share.

Used by both platforms, by the image's build context and by `mlinfra serve`, so a setting is
derived from a declaration in one place. The names themselves are in
`mlinfra.serving.contract`, which the runtime imports too. No Pulumi here.
"""

from __future__ import annotations

from mlinfra.serving import contract
from mlinfra.spec.service import ServiceSpec

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
"""HTTPS listeners of both platforms: TLS 1.3 and 1.2 with forward-secret ciphers only."""

DEFAULT_ALB_IDLE_TIMEOUT_S = 60
"""The ALB's idle timeout when the stack does not set one (AWS's default)."""


def namespace(service: str) -> str:
    """`fraud` -> `ml-fraud`: the service's Kubernetes namespace on EKS and the `namespace`
    label its metrics carry on both platforms (the shared alert rules select on it)."""
    return f"ml-{service}"


def runtime_env(spec: ServiceSpec, *, alb_idle_timeout_s: int) -> dict[str, str]:
    """The runtime's settings for one deployed service, as `MLINFRA_*` variables, merged over
    the team's own `env` (which cannot use the `MLINFRA_` prefix).

    `alb_idle_timeout_s` is the idle timeout of the load balancer in front of the service; the
    runtime keeps connections longer, so the load balancer always closes first.
    """
    env = contract.model_env(
        model_uri=spec.model_uri,
        model_name=spec.name,
        framework=spec.framework or "",
        port=spec.port,
        model_sha256=spec.model_sha256,
        trusted_pickle=spec.trusted_pickle,
    )
    env.update(
        {
            contract.MAX_BATCH_SIZE_ENV: str(spec.max_batch_size),
            contract.MAX_BATCH_WAIT_MS_ENV: f"{spec.max_batch_wait_ms:g}",
            contract.REQUEST_TIMEOUT_S_ENV: f"{spec.request_timeout_seconds:g}",
            contract.KEEPALIVE_TIMEOUT_S_ENV: str(contract.keepalive_timeout_s(alb_idle_timeout_s)),
            contract.MODEL_CACHE_DIR_ENV: contract.DEPLOYED_MODEL_CACHE_DIR,
        }
    )
    if spec.auth == "api_key":
        env[contract.REQUIRE_API_KEY_ENV] = "true"
    return dict(sorted({**spec.env, **env}.items()))
