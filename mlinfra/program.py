"""The Pulumi program. `__main__.py` calls `run()`; so does the offline engine, unchanged."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pulumi

from mlinfra.components.platform import Platform, PlatformArgs
from mlinfra.errors import SpecError
from mlinfra.spec.loader import Deployment, config_from_pulumi_runtime, load_deployment

BUILD_DIR = Path(".mlinfra") / "build"
PLATFORM_NAME = "platform"
"""Logical name of the stack's platform component (pinned: it prefixes every child's name)."""


def _eks(name: str, args: PlatformArgs) -> Platform:
    from mlinfra.components.eks_platform import EksPlatform

    return EksPlatform(name, args)


def _ecs(name: str, args: PlatformArgs) -> Platform:
    from mlinfra.components.ecs_platform import EcsPlatform

    return EcsPlatform(name, args)


PLATFORMS: Mapping[str, Callable[[str, PlatformArgs], Platform]] = {"eks": _eks, "ecs": _ecs}
"""`mlinfra:platform` -> how to build it. Imported lazily: a stack loads one platform only."""


def run() -> None:
    """Load this stack's settings and services, then declare every resource."""
    stack = pulumi.get_stack()
    try:
        deployment = load_deployment(Path.cwd(), pulumi.get_project(), stack, config_from_pulumi_runtime(stack))
    except SpecError as exc:
        # RunError ends the program with the message only, no Python traceback.
        raise pulumi.RunError(str(exc)) from None
    deploy(deployment)


def deploy(deployment: Deployment) -> None:
    """The one deploy loop: the platform, then per service its image and its components."""
    from mlinfra.components.image import ServiceImage, ServiceImageArgs

    stack = deployment.stack
    platform = PLATFORMS[deployment.settings.platform](
        PLATFORM_NAME, PlatformArgs(stack, deployment.settings, deployment.services, deployment.secret_values)
    )
    endpoints: dict[str, str] = {}
    for spec in deployment.services:
        image = ServiceImage(
            spec.name,
            ServiceImageArgs(stack, spec, BUILD_DIR / stack, platform.images_key_arn, deployment.settings.production),
        )
        endpoints[spec.name] = platform.add_service(spec, image.image_ref)
    outputs = {**platform.outputs(), "endpoints": endpoints}
    for key in sorted(outputs):
        pulumi.export(key, outputs[key])
