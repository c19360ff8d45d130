"""Per-service ECR repository and the serving image, built from the generated context."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker
from pulumi.runtime import mocks

from mlinfra.components.base import TOKEN_PREFIX, child, tags
from mlinfra.image import write_build_context
from mlinfra.image.stage import stage_remote_model
from mlinfra.serving.errors import ModelLoadError
from mlinfra.serving.fetch import sha256_file
from mlinfra.spec.service import ServiceSpec, uri_scheme

_DOCKER_PROVIDER = importlib.metadata.version("pulumi-docker")

LIFECYCLE_POLICY = {
    "rules": [
        {
            "rulePriority": 1,
            "description": "Drop untagged images after 7 days",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 7,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": "Keep the 30 most recent images",
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 30},
            "action": {"type": "expire"},
        },
    ]
}


MODEL_DIR = "model"
_BUILD_INPUTS = ("build", "imageName", "registry")
"""docker.Image inputs a pinned release freezes (any change to them means a new build)."""


def image_tag(directory: Path, model_sha256: str | None) -> str:
    """Content tag of a build context, so tags never need to be mutable.

    Covers every file of the context, the model by its sha256 (so a remote model, which is
    not in the context during a plan, still changes the tag, and a local one is never read
    into memory), and the pulumi-docker version: a provider upgrade that rebuilds an
    unchanged context pushes a new tag instead of overwriting an immutable one.
    """
    digest = hashlib.sha256()
    digest.update(f"pulumi-docker {_DOCKER_PROVIDER}\0".encode())
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = path.relative_to(directory).as_posix()
        if rel.split("/", 1)[0] == MODEL_DIR:
            continue
        digest.update(rel.encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    model = sorted((directory / MODEL_DIR).glob("*")) if (directory / MODEL_DIR).is_dir() else []
    if model_sha256 is None and model:
        model_sha256 = sha256_file(model[0])
    digest.update(f"model {model_sha256 or '-'}\0".encode())
    return digest.hexdigest()[:16]


def under_real_engine() -> bool:
    """False under the offline engine's mocks (`mlinfra plan`), which must not download."""
    return not isinstance(pulumi.runtime.settings.get_monitor(), mocks.MockMonitor)


@dataclass(frozen=True)
class ServiceImageArgs:
    stack: str
    spec: ServiceSpec
    build_root: Path
    """Where build contexts are written (one sub-directory per service)."""
    kms_key_arn: pulumi.Input[str]
    production: bool = False
    """Prod: the repository is protected; elsewhere destroy deletes it with its images."""
    pinned_image: str | None = None
    """`mlinfra:releases.<service>.image` (`repo@sha256:...`): deployed instead of this build."""


class ServiceImage(pulumi.ComponentResource):
    """ECR repository (immutable tags, scan on push, KMS) and the image pushed to it."""

    repository_url: pulumi.Output[str]
    """`<account>.dkr.ecr.<region>.amazonaws.com/<repo>`."""
    image_ref: pulumi.Output[str]
    """The image pinned by digest (`repo@sha256:...`), what pods and tasks run: this build's, or
    the release pinned in the stack config."""
    digest: pulumi.Output[str]
    """`sha256:...` of `image_ref`."""
    context_dir: Path
    """The generated build context, kept for `mlinfra render`."""

    def __init__(self, name: str, args: ServiceImageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{TOKEN_PREFIX}ServiceImage", name, None, opts)
        spec = args.spec
        service_tags = tags(args.stack, service=spec.name)
        repo = aws.ecr.Repository(
            f"{name}-repo",
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            encryption_configurations=[
                aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=args.kms_key_arn)
            ],
            force_delete=not args.production,
            tags=service_tags,
            opts=child(self, protect=args.production),
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle",
            repository=repo.name,
            policy=json.dumps(LIFECYCLE_POLICY, sort_keys=True),
            opts=child(self),
        )
        self.context_dir = args.build_root / spec.name
        model_file = None
        if spec.bake_model and uri_scheme(spec.model_uri) != "file" and under_real_engine():
            assert spec.model_sha256 is not None  # the loader requires it for a baked remote model
            try:
                model_file = stage_remote_model(spec.model_uri, spec.model_sha256, args.build_root.parent / "_models")
            except ModelLoadError as exc:
                raise pulumi.RunError(f"service {spec.name!r}: cannot bake the model: {exc}") from None
        dockerfile = write_build_context(
            self.context_dir,
            service=spec.name,
            model_uri=spec.model_uri,
            framework=spec.framework or "sklearn",
            gpu=spec.gpu is not False,
            port=spec.port,
            model_sha256=spec.model_sha256,
            bake_model=spec.bake_model,
            trusted_pickle=spec.trusted_pickle,
            model_file=model_file,
        )
        tag = image_tag(self.context_dir, spec.model_sha256)
        auth = aws.ecr.get_authorization_token_output(registry_id=repo.registry_id)
        image = docker.Image(
            f"{name}-image",
            build=docker.DockerBuildArgs(
                context=str(self.context_dir), dockerfile=str(dockerfile), platform="linux/amd64"
            ),
            image_name=pulumi.Output.concat(repo.repository_url, ":", tag),
            registry=docker.RegistryArgs(
                server=repo.repository_url, username=auth.user_name, password=pulumi.Output.secret(auth.password)
            ),
            # A pinned release leaves the build as the last `up` left it: no rebuild and no push
            # (pulumi-docker's delete is a no-op, but dropping the resource would make the next
            # unpinned `up` push the same immutable tag again).
            opts=child(self, ignore_changes=list(_BUILD_INPUTS) if args.pinned_image else None),
        )
        self.repository_url = repo.repository_url
        self.image_ref = pulumi.Output.from_input(args.pinned_image) if args.pinned_image else image.repo_digest
        self.digest = self.image_ref.apply(lambda ref: ref.rsplit("@", 1)[-1])
        self.register_outputs({"repository_url": self.repository_url, "image": self.image_ref})
