"""How a new version of a service replaces the running one: the `rollout=` field.

`canary` shifts a share of the traffic to the new version per step, waits `bake_minutes` at
each step while its own 5xx ratio and p99 latency are watched, and rolls back by itself when
either passes its ceiling. `rolling` replaces replicas one at a time with health checks only.
Default when omitted: `rolling` on a `dev` stack; elsewhere `canary` with the defaults below
on EKS, and 10/100 on ECS, whose native canary has one intermediate step.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Literal

from pydantic import Field, field_validator

from mlinfra.spec.base import StrictModel

Strategy = Literal["rolling", "canary"]
STRATEGIES: tuple[str, ...] = ("rolling", "canary")


class Rollout(StrictModel):
    """Progressive delivery of a new version. Defaults: canary 10/50/100, 5 minutes per step,
    rolled back above 1% 5xx or a p99 above 1 s on the new version's own traffic."""

    strategy: Strategy = "canary"
    steps: tuple[Annotated[int, Field(ge=1, le=100, strict=True)], ...] = (10, 50, 100)
    """Percent of the traffic the new version takes at each step, increasing, ending at 100."""
    bake_minutes: Annotated[int, Field(ge=0, le=1440, strict=True)] = 5
    """Minutes at each step before the next (0-1440; ECS allows at most 1440)."""
    max_error_ratio: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)] = 0.01
    """Share of the new version's requests that may fail with 5xx before it is rolled back."""
    max_p99_seconds: Annotated[float, Field(gt=0, le=300, allow_inf_nan=False)] = 1.0
    """p99 latency of the new version above which it is rolled back."""

    @field_validator("steps")
    @classmethod
    def _steps(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or v[-1] != 100 or any(a >= b for a, b in pairwise(v)):
            raise ValueError(
                "must be strictly increasing traffic percentages ending at 100, e.g. [10, 50, 100]; "
                "allowed: integers from 1 to 100"
            )
        return v

    @property
    def canary_steps(self) -> tuple[int, ...]:
        """The steps before full traffic (empty when the strategy is `rolling`)."""
        return self.steps[:-1] if self.strategy == "canary" else ()

    @property
    def total_minutes(self) -> int:
        """How long a healthy release bakes in total before it takes all traffic."""
        return len(self.canary_steps) * self.bake_minutes


ECS_DEFAULT_STEPS = (10, 100)


def effective_rollout(declared: Rollout | None, tier: str, platform: str) -> Rollout:
    """The rollout a service gets on a stack: what it declares, else the tier's default."""
    if declared is not None:
        return declared
    if tier == "dev":
        return Rollout(strategy="rolling")
    return Rollout(steps=ECS_DEFAULT_STEPS) if platform == "ecs" else Rollout()
