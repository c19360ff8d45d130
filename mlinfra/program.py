"""The Pulumi program. `__main__.py` calls `run()`; so does the offline engine, unchanged."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pulumi

from mlinfra.components.platform import Platform, PlatformArgs
from mlinfra.errors import SpecError
from mlinfra.spec.loader import Deployment, config_from_pulumi_runtime, load_deployment

if TYPE_CHECKING:
    from mlinfra.components.image import ServiceImage
    from mlinfra.spec.service import ServiceSpec

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


RELEASES_OUTPUT = "releases"
"""Stack output: per service what this `up` deployed (image, digest, model); `mlinfra.engine.release`."""


def release_output(spec: ServiceSpec, image: ServiceImage, *, pinned: bool) -> dict[str, object]:
    """What a deploy of `spec` records: the image by digest, and the model it serves."""
    return {
        "image": image.image_ref,
        "digest": image.digest,
        "repository": image.repository_url,
        "modelUri": spec.model_uri,
        # The declared sha256 (a baked model must have one); "" when the model is fetched unverified.
        "modelSha256": spec.model_sha256 or "",
        "pinned": pinned,
    }


def deploy(deployment: Deployment) -> None:
    """The one deploy loop: the platform, then per service its image and its components."""
    from mlinfra.components.image import ServiceImage, ServiceImageArgs

    stack = deployment.stack
    platform = PLATFORMS[deployment.settings.platform](
        PLATFORM_NAME, PlatformArgs(stack, deployment.settings, deployment.services, deployment.secret_values)
    )
    endpoints: dict[str, str] = {}
    releases: dict[str, dict[str, object]] = {}
    for spec in deployment.services:
        pin = deployment.settings.releases.get(spec.name)
        image = ServiceImage(
            spec.name,
            ServiceImageArgs(
                stack,
                spec,
                BUILD_DIR / stack,
                platform.images_key_arn,
                deployment.settings.production,
                pinned_image=pin.image if pin else None,
            ),
        )
        endpoints[spec.name] = platform.add_service(spec, image.image_ref)
        releases[spec.name] = release_output(spec, image, pinned=pin is not None)
    outputs = {**platform.outputs(), "endpoints": endpoints, RELEASES_OUTPUT: releases}
    for key in sorted(outputs):
        pulumi.export(key, outputs[key])
