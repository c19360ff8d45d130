"""Per-service ECR repository and the serving image, built from the generated context."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

from mlinfra.components.base import TOKEN_PREFIX, child, tags
from mlinfra.image import write_build_context
from mlinfra.spec.service import ServiceSpec

LIFECYCLE_POLICY = {"rules": [
    {"rulePriority": 1, "description": "Drop untagged images after 7 days",
     "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                   "countUnit": "days", "countNumber": 7},
     "action": {"type": "expire"}},
    {"rulePriority": 2, "description": "Keep the 30 most recent images",
     "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 30},
     "action": {"type": "expire"}},
]}


def context_digest(directory: Path) -> str:
    """Content hash of a build context: the image tag, so tags never need to be mutable."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class ServiceImageArgs:
    stack: str
    spec: ServiceSpec
    build_root: Path
    """Where build contexts are written (one sub-directory per service)."""
    kms_key_arn: pulumi.Input[str]


class ServiceImage(pulumi.ComponentResource):
    """ECR repository (immutable tags, scan on push, KMS) and the image pushed to it."""

    repository_url: pulumi.Output[str]
    """`<account>.dkr.ecr.<region>.amazonaws.com/<repo>`."""
    image_ref: pulumi.Output[str]
    """The pushed image pinned by digest (`repo@sha256:...`), what pods and tasks run."""
    context_dir: Path
    """The generated build context, kept for `mlinfra render`."""

    def __init__(self, name: str, args: ServiceImageArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{TOKEN_PREFIX}ServiceImage", name, None, opts)
        spec = args.spec
        service_tags = tags(args.stack, service=spec.name)
        repo = aws.ecr.Repository(
            f"{name}-repo",
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
                scan_on_push=True),
            encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(
                encryption_type="KMS", kms_key=args.kms_key_arn)],
            force_delete=False,
            tags=service_tags, opts=child(self),
        )
        aws.ecr.LifecyclePolicy(f"{name}-lifecycle", repository=repo.name,
                                policy=json.dumps(LIFECYCLE_POLICY, sort_keys=True),
                                opts=child(self))
        self.context_dir = args.build_root / spec.name
        dockerfile = write_build_context(
            self.context_dir, service=spec.name, model_uri=spec.model_uri,
            framework=spec.framework or "sklearn", gpu=spec.gpu is not False, port=spec.port,
            model_sha256=spec.model_sha256, bake_model=spec.bake_model,
            trusted_pickle=spec.trusted_pickle,
        )
        tag = context_digest(self.context_dir)
        auth = aws.ecr.get_authorization_token_output(registry_id=repo.registry_id)
        image = docker.Image(
            f"{name}-image",
            build=docker.DockerBuildArgs(
                context=str(self.context_dir), dockerfile=str(dockerfile),
                platform="linux/amd64"),
            image_name=pulumi.Output.concat(repo.repository_url, ":", tag),
            registry=docker.RegistryArgs(server=repo.repository_url, username=auth.user_name,
                                         password=pulumi.Output.secret(auth.password)),
            opts=child(self),
        )
        self.repository_url = repo.repository_url
        self.image_ref = image.repo_digest
        self.register_outputs({"repository_url": self.repository_url, "image": self.image_ref})
