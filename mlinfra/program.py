"""The Pulumi program. `__main__.py` calls `run()`; so does the offline engine, unchanged."""

from __future__ import annotations

from pathlib import Path

import pulumi

from mlinfra.spec.errors import SpecError
from mlinfra.spec.loader import Deployment, config_from_pulumi_runtime, load_deployment

BUILD_DIR = Path(".mlinfra") / "build"


def run() -> None:
    """Load this stack's settings and services, then declare every resource."""
    stack = pulumi.get_stack()
    try:
        deployment = load_deployment(Path.cwd(), pulumi.get_project(), stack,
                                     config_from_pulumi_runtime(stack))
    except SpecError as exc:
        # RunError ends the program with the message only, no Python traceback.
        raise pulumi.RunError(str(exc)) from None
    deploy(deployment)


def deploy(deployment: Deployment) -> None:
    if deployment.settings.platform == "ecs":
        from mlinfra.components.ecs_deploy import deploy_ecs

        deploy_ecs(deployment, BUILD_DIR / deployment.stack)
        return
    _deploy_eks(deployment)


def _deploy_eks(deployment: Deployment) -> None:
    from mlinfra.components.eks_platform import EksPlatform, EksPlatformArgs
    from mlinfra.components.image import ServiceImage, ServiceImageArgs
    from mlinfra.components.k8s_service import KubernetesModelService, KubernetesServiceArgs

    stack, settings = deployment.stack, deployment.settings
    platform = EksPlatform("platform", EksPlatformArgs(stack, settings))
    endpoints: dict[str, str] = {}
    for spec in deployment.services:
        image = ServiceImage(spec.name, ServiceImageArgs(stack, spec, BUILD_DIR / stack,
                                                         platform.images_key_arn))
        service = KubernetesModelService(spec.name, KubernetesServiceArgs(
            stack=stack, settings=settings, spec=spec, cluster=platform.cluster,
            image_ref=image.image_ref, load_balancer_cidrs=platform.network.load_balancer_cidrs,
            access_logs_bucket=platform.access_logs_bucket,
            secret_values={n: deployment.secret_values[n] for n in spec.secrets
                           if n in deployment.secret_values},
            depends_on=list(platform.addons.releases.values()),
        ))
        endpoints[spec.name] = f"https://{service.hostname}"
    pulumi.export("cluster_name", platform.cluster.cluster_name)
    pulumi.export("endpoints", endpoints)
