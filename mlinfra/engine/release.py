"""`mlinfra rollback` and `mlinfra promote`: pin a service to an image ECR has recorded.

The recorded history is the service's ECR repository (`describe_images`), ordered by push
time. Every `up` that builds pushes before it deploys, so without a pin a stack runs the
newest image of its own repository; with a pin (`mlinfra:releases.<service>.image`) it runs
the pinned one. "Previous" is the image pushed just before the current one to the repository
the stack pulls from. A promoted stack pulls from the repository of the stack the image passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mlinfra.engine.release_pins import write_pins
from mlinfra.errors import Problem, ReleaseError, SpecError
from mlinfra.spec.loader import Deployment, load_deployment, read_stack_file, stack_file
from mlinfra.spec.release import DIGEST

STACK_TAG = "mlinfra:stack"
SERVICE_TAG = "mlinfra:service"
SHOWN_IMAGES = 5


@dataclass(frozen=True)
class RecordedImage:
    digest: str
    pushed_at: datetime
    tags: tuple[str, ...]

    def describe(self) -> str:
        tag = f", tag {self.tags[0]}" if self.tags else ""
        return f"{self.digest[:19]}… (pushed {self.pushed_at:%Y-%m-%d %H:%M}{tag})"


@dataclass(frozen=True)
class Repository:
    name: str
    uri: str
    images: tuple[RecordedImage, ...]
    """Oldest first."""

    def ref(self, digest: str) -> str:
        return f"{self.uri}@{digest}"

    def find(self, digest: str) -> RecordedImage | None:
        return next((i for i in self.images if i.digest == digest), None)

    def recorded(self) -> str:
        if not self.images:
            return f"repository {self.name} has no images"
        newest = [i.describe() for i in reversed(self.images[-SHOWN_IMAGES:])]
        more = f" and {len(self.images) - SHOWN_IMAGES} older" if len(self.images) > SHOWN_IMAGES else ""
        return f"repository {self.name} has, newest first: {'; '.join(newest)}{more}"


@dataclass(frozen=True)
class Change:
    service: str
    before: str | None
    """The image ref the stack ran (its pin, or its newest build); None when ECR had none."""
    after: str


def ecr_client(region: str) -> Any:
    import boto3

    # AWS_ENDPOINT_URL(_ECR) is honoured by boto3 itself (a local emulator in the tests).
    return boto3.client("ecr", region_name=region)


def _aws_call(what: str, region: str, call: Any, **kwargs: Any) -> list[dict[str, Any]]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return list(call(**kwargs))
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise ReleaseError(
            f"ECR {what} in {region} failed: {error.get('Code', 'error')}: {error.get('Message', exc)}"
        ) from None
    except BotoCoreError as exc:
        raise ReleaseError(f"ECR {what} in {region} failed: {exc} (are AWS credentials configured?)") from None


def _pages(ecr: Any, operation: str, key: str, region: str, **kwargs: Any) -> list[dict[str, Any]]:
    def items(**kw: Any) -> Any:
        for page in ecr.get_paginator(operation).paginate(**kw):
            yield from page[key]

    return _aws_call(operation, region, items, **kwargs)


def service_repositories(ecr: Any, region: str, service: str) -> dict[str, list[dict[str, Any]]]:
    """The service's repositories in the region by stack: those tagged with it (see `components.image`)."""
    by_stack: dict[str, list[dict[str, Any]]] = {}
    for repo in _pages(ecr, "describe_repositories", "repositories", region):
        tags = _aws_call(
            "list_tags_for_resource",
            region,
            lambda arn: ecr.list_tags_for_resource(resourceArn=arn)["tags"],
            arn=repo["repositoryArn"],
        )
        values = {t["Key"]: t["Value"] for t in tags}
        if values.get(SERVICE_TAG) == service and STACK_TAG in values:
            by_stack.setdefault(values[STACK_TAG], []).append(repo)
    return by_stack


def repository_of(ecr: Any, region: str, stack: str, service: str) -> Repository:
    """The service's repository in `stack`, with its recorded images."""
    found = service_repositories(ecr, region, service).get(stack, [])
    if not found:
        raise ReleaseError(
            f"stack {stack}, service {service}: no ECR repository in {region} is tagged "
            f"{STACK_TAG}={stack} and {SERVICE_TAG}={service}; `pulumi up --stack {stack}` creates it "
            "with the first build, and there is no release to pin before that"
        )
    if len(found) > 1:
        names = ", ".join(sorted(r["repositoryName"] for r in found))
        raise ReleaseError(
            f"stack {stack}, service {service}: several ECR repositories in {region} carry its tags "
            f"({names}); two projects share the stack name in this account"
        )
    return _with_images(ecr, region, found[0]["repositoryName"], found[0]["repositoryUri"])


def other_repositories(ecr: Any, region: str, stack: str, service: str) -> list[Repository]:
    """The service's repositories of the other stacks (where a promoted image came from)."""
    return [
        _with_images(ecr, region, r["repositoryName"], r["repositoryUri"])
        for other, repos in sorted(service_repositories(ecr, region, service).items())
        if other != stack
        for r in repos
    ]


def repository_named(ecr: Any, region: str, name: str) -> Repository:
    repos = _pages(ecr, "describe_repositories", "repositories", region, repositoryNames=[name])
    return _with_images(ecr, region, name, repos[0]["repositoryUri"])


def _with_images(ecr: Any, region: str, name: str, uri: str) -> Repository:
    details = _pages(ecr, "describe_images", "imageDetails", region, repositoryName=name)
    images = sorted(
        (RecordedImage(d["imageDigest"], d["imagePushedAt"], tuple(sorted(d.get("imageTags", [])))) for d in details),
        key=lambda i: (i.pushed_at, i.digest),
    )
    return Repository(name, uri, tuple(images))


def _load(root: Path, stack: str) -> Deployment:
    from mlinfra.engine.project import check_project
    from mlinfra.engine.runner import project_name

    root = root.resolve()
    check_project(root, stack)
    return load_deployment(root, project_name(root), stack, read_stack_file(root, stack))


def _service_problem(deployment: Deployment, service: str) -> None:
    names = [s.name for s in deployment.services]
    if service not in names:
        raise SpecError(
            [Problem("(command line)", "--service", service, f"a declared service; declared: {', '.join(names)}")]
        )


def _running(deployment: Deployment, own: Repository, ecr: Any, service: str) -> tuple[Repository, str | None]:
    """(the repository the stack pulls `service` from, the digest it runs there)."""
    pin = deployment.settings.releases.get(service)
    if pin is None:
        return own, own.images[-1].digest if own.images else None
    source = own if pin.repository == own.name else repository_named(ecr, deployment.settings.region, pin.repository)
    return source, pin.digest


def _refuse(stack: str, service: str, digest: str, repos: list[Repository], why: str) -> ReleaseError:
    seen = "; ".join(dict.fromkeys(r.recorded() for r in repos))
    return ReleaseError(f"stack {stack}, service {service}: {digest} {why}; {seen}")


def rollback(root: Path, stack: str, service: str, to: str | None = None, *, ecr: Any = None) -> Change:
    """Pin `service` in `stack` to `to` (a digest) or to the image before the one it runs."""
    if to is not None and not DIGEST.match(to):
        raise SpecError([Problem("(command line)", "--to", to, "an image digest, sha256:<64 hex digits>")])
    deployment = _load(root, stack)
    _service_problem(deployment, service)
    region = deployment.settings.region
    ecr = ecr or ecr_client(region)
    own = repository_of(ecr, region, stack, service)
    source, current = _running(deployment, own, ecr, service)
    before = source.ref(current) if current else None
    if to is not None:
        where = next((r for r in (own, source) if r.find(to)), None)
        others = [] if where else other_repositories(ecr, region, stack, service)
        where = where or next((r for r in others if r.find(to)), None)
        if where is None:
            raise _refuse(stack, service, to, [own, source, *others], "is not in ECR's recorded history")
        target = where.ref(to)
    else:
        if current is None or source.find(current) is None:
            shown = current or "(no image)"
            raise _refuse(stack, service, shown, [source], "(what the stack runs) is not in ECR's recorded history")
        index = [i.digest for i in source.images].index(current)
        if index == 0:
            raise _refuse(stack, service, current, [source], "(what the stack runs) is the oldest image recorded")
        target = source.ref(source.images[index - 1].digest)
    write_pins(stack_file(deployment.root, stack), {service: target}, deployment.stack_file)
    return Change(service, before, target)


def promote(root: Path, source_stack: str, target_stack: str, *, ecr: Any = None) -> list[Change]:
    """Pin every service of `target_stack` to the image `source_stack` runs."""
    source = _load(root, source_stack)
    target = _load(root, target_stack)
    if source.settings.region != target.settings.region:
        raise SpecError(
            [
                Problem(
                    "(command line)",
                    "--from/--to",
                    f"{source_stack} ({source.settings.region}), {target_stack} ({target.settings.region})",
                    "two stacks in one region (a promoted image is pulled from the source stack's repository)",
                )
            ]
        )
    region = target.settings.region
    ecr = ecr or ecr_client(region)
    changes: list[Change] = []
    for spec in target.services:
        _service_problem(source, spec.name)
        own = repository_of(ecr, region, source_stack, spec.name)
        repo, digest = _running(source, own, ecr, spec.name)
        if digest is None or repo.find(digest) is None:
            shown = digest or "(no image)"
            raise _refuse(source_stack, spec.name, shown, [repo], "(what it runs) is not in ECR's recorded history")
        pin = target.settings.releases.get(spec.name)
        changes.append(Change(spec.name, pin.image if pin else None, repo.ref(digest)))
    pins = {c.service: c.after for c in changes if c.before != c.after}
    write_pins(stack_file(target.root, target_stack), pins, target.stack_file)
    return changes
