"""Input rules that depend on the stack's platform, one module per platform.

A rule lives here when a service that is valid on its own still cannot run on the stack's
platform (no GPU capacity, a task size the platform does not offer...). The loader asks
`RULES[settings.platform]` after the platform-neutral checks, so every problem is still
reported at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from mlinfra.errors import Problem
from mlinfra.spec.platforms import ecs, eks
from mlinfra.spec.service import ServiceSpec
from mlinfra.spec.stack import StackSettings


class PlatformRules(Protocol):
    def problems(
        self, settings: StackSettings, services: Sequence[ServiceSpec], where: Mapping[str, str], file: str
    ) -> list[Problem]:
        """Every reason one of `services` cannot run on this platform. `where` maps a service
        name to its declaration's `file:line`; `file` is the stack file."""
        ...


RULES: Mapping[str, PlatformRules] = {"eks": eks, "ecs": ecs}
"""Platform name (`mlinfra:platform`) -> its rules."""
