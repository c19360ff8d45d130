"""The seam between the program and a platform (EKS, ECS): one protocol, the same arguments.

`mlinfra.program.deploy` builds the stack's platform from `PlatformArgs`, builds each
service's image, asks the platform to add the service, and exports the platform's outputs.
A platform adds each service component at the stack root (not under itself), so its URN is
`...::mlinfra:index:<Kind>ModelService::<service>` whatever the platform's own tree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import pulumi

from mlinfra.spec.service import ServiceSpec
from mlinfra.spec.stack import StackSettings


@dataclass(frozen=True)
class PlatformArgs:
    """What every platform is built from: the validated stack and its services."""

    stack: str
    settings: StackSettings
    services: tuple[ServiceSpec, ...] = ()
    secret_values: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Values of `mlinfra:secrets` (Pulumi secret config), never printed."""


class Platform(Protocol):
    """The shared infrastructure of one stack, and how a service is added to it."""

    @property
    def images_key_arn(self) -> pulumi.Output[str]:
        """KMS key that encrypts every ECR repository of the stack."""
        ...

    def add_service(self, spec: ServiceSpec, image_ref: pulumi.Input[str]) -> str:
        """Declare one service running `image_ref`; return its `https://` endpoint."""
        ...

    def outputs(self) -> Mapping[str, pulumi.Input[object]]:
        """Stack outputs of the platform (`cluster_name`, ...), besides `endpoints`."""
        ...
