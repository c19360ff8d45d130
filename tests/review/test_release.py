"""`mlinfra rollback` / `mlinfra promote` against a real moto server holding a recorded ECR history.

The history is made the way `pulumi up` makes it: repositories tagged with the stack and the
service (as `components.image` tags them), images pushed one after another (`put_image`; the
digest is the one the server computed and returned). The CLI runs as a user runs it, in its own process,
with boto3 pointed at the server by AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from tests.review.conftest import assert_bad_input, copy_project, mlinfra
from tests.support.moto_server import running_moto

REGION = "us-east-1"
CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_moto(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


@pytest.fixture
def ecr(moto: str) -> Iterator[Any]:
    client = boto3.client("ecr", endpoint_url=moto, region_name=REGION, **_keys())
    yield client
    for repo in client.describe_repositories()["repositories"]:  # every test starts from an empty registry
        client.delete_repository(repositoryName=repo["repositoryName"], force=True)


def _keys() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def _repository(ecr: Any, stack: str, service: str) -> dict[str, Any]:
    repo: dict[str, Any] = ecr.create_repository(
        repositoryName=f"{service}-repo-{stack}1a2b",
        imageTagMutability="IMMUTABLE",
        tags=[
            {"Key": "managed-by", "Value": "mlinfra"},
            {"Key": "mlinfra:service", "Value": service},
            {"Key": "mlinfra:stack", "Value": stack},
        ],
    )["repository"]
    return repo


def _push(ecr: Any, repo: dict[str, Any], n: int, *, label: str = "") -> list[str]:
    """Push `n` distinct images, oldest first; their digests as ECR computed them."""
    digests = []
    for i in range(n):
        layer = "sha256:" + hashlib.sha256(f"{repo['repositoryName']} {label}{i}".encode()).hexdigest()
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7, "digest": layer},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 7, "digest": layer}],
        }
        out = ecr.put_image(
            repositoryName=repo["repositoryName"], imageManifest=json.dumps(manifest), imageTag=f"{label}build{i}"
        )
        digests.append(out["image"]["imageId"]["imageDigest"])
        time.sleep(1.05)  # ECR orders by push time; moto stores it to the second
    return digests


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project")


def _cli(moto: str, project: Path, *args: str) -> Any:
    return mlinfra(*args, "-C", str(project), env={**CREDS, "AWS_ENDPOINT_URL": moto})


def _pins(project: Path, stack: str) -> dict[str, str]:
    doc = yaml.safe_load((project / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    return {s: v["image"] for s, v in (doc["config"].get("mlinfra:releases") or {}).items()}


def _only_added_lines(before: str, after: str) -> list[str]:
    ops = [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line[:1] in "+-"]
    assert all(line.startswith("+ ") for line in ops), ops
    return [line[2:] for line in ops]


def test_rollback_walks_back_through_the_recorded_history(moto: str, ecr: Any, project: Path) -> None:
    repo = _repository(ecr, "staging", "fraud-detector")
    _repository(ecr, "staging", "search-ranker")
    v1, v2, v3 = _push(ecr, repo, 3)
    stack_file = project / "stacks" / "Pulumi.staging.yaml"
    original = stack_file.read_text()

    first = _cli(moto, project, "rollback", "--stack", "staging", "--service", "fraud-detector")
    assert first.returncode == 0, first.stderr
    assert _pins(project, "staging") == {"fraud-detector": f"{repo['repositoryUri']}@{v2}"}
    assert "pulumi up --stack staging" in first.stdout
    # Only the pin was added: every line the team wrote (comments included) is still there.
    assert _only_added_lines(original, stack_file.read_text()) == [
        "  mlinfra:releases:",
        "    fraud-detector:",
        f"      image: {repo['repositoryUri']}@{v2}",
    ]

    second = _cli(moto, project, "rollback", "--stack", "staging", "--service", "fraud-detector")
    assert second.returncode == 0, second.stderr
    assert _pins(project, "staging") == {"fraud-detector": f"{repo['repositoryUri']}@{v1}"}

    oldest = _cli(moto, project, "rollback", "--stack", "staging", "--service", "fraud-detector")
    assert_bad_input(oldest, "stack staging", "service fraud-detector", v1, "oldest image recorded", v3[:19])
    assert _pins(project, "staging") == {"fraud-detector": f"{repo['repositoryUri']}@{v1}"}

    forward = _cli(moto, project, "rollback", "--stack", "staging", "--service", "fraud-detector", "--to", v3)
    assert forward.returncode == 0, forward.stderr
    assert _pins(project, "staging") == {"fraud-detector": f"{repo['repositoryUri']}@{v3}"}
    assert not list(stack_file.parent.glob(".*tmp")), "the atomic write left its temporary file"


def test_rollback_refuses_a_digest_ecr_never_recorded(moto: str, ecr: Any, project: Path) -> None:
    repo = _repository(ecr, "prod", "fraud-detector")
    _repository(ecr, "prod", "search-ranker")
    recorded = _push(ecr, repo, 2)
    stack_file = project / "stacks" / "Pulumi.prod.yaml"
    before = stack_file.read_bytes()
    unknown = "sha256:" + "d" * 64
    proc = _cli(moto, project, "rollback", "--stack", "prod", "--service", "fraud-detector", "--to", unknown)
    assert_bad_input(
        proc,
        "stack prod",
        "service fraud-detector",
        unknown,
        "not in ECR's recorded history",
        repo["repositoryName"],
        recorded[0][:19],
        recorded[1][:19],
    )
    assert stack_file.read_bytes() == before


def test_rollback_refuses_before_the_first_deploy_and_bad_arguments(moto: str, ecr: Any, project: Path) -> None:
    none = _cli(moto, project, "rollback", "--stack", "prod", "--service", "fraud-detector")
    assert_bad_input(none, "stack prod", "service fraud-detector", "no ECR repository", "mlinfra:stack=prod")
    bad = _cli(moto, project, "rollback", "--stack", "prod", "--service", "fraud-detector", "--to", "v12")
    assert_bad_input(bad, "--to", "'v12'", "sha256:<64 hex digits>")
    unknown = _cli(moto, project, "rollback", "--stack", "prod", "--service", "fraud")
    assert_bad_input(unknown, "--service", "'fraud'", "fraud-detector, search-ranker")


def test_promote_pins_exactly_what_staging_runs(moto: str, ecr: Any, project: Path) -> None:
    staging_fraud = _repository(ecr, "staging", "fraud-detector")
    staging_ranker = _repository(ecr, "staging", "search-ranker")
    prod_fraud = _repository(ecr, "prod", "fraud-detector")
    _repository(ecr, "prod", "search-ranker")
    f1, f2 = _push(ecr, staging_fraud, 2, label="f")
    [r1] = _push(ecr, staging_ranker, 1, label="r")
    _push(ecr, prod_fraud, 1, label="p")  # prod's own build is not what passed staging
    # staging was rolled back to f1: that, not its newest push, is what passed
    assert _cli(moto, project, "rollback", "--stack", "staging", "--service", "fraud-detector").returncode == 0
    prod_file = project / "stacks" / "Pulumi.prod.yaml"
    original = prod_file.read_text()

    proc = _cli(moto, project, "promote", "--from", "staging", "--to", "prod")
    assert proc.returncode == 0, proc.stderr
    expected = {
        "fraud-detector": f"{staging_fraud['repositoryUri']}@{f1}",
        "search-ranker": f"{staging_ranker['repositoryUri']}@{r1}",
    }
    assert _pins(project, "prod") == expected
    assert f2 not in prod_file.read_text()
    added = _only_added_lines(original, prod_file.read_text())
    assert added == [
        "  mlinfra:releases:",
        "    fraud-detector:",
        f"      image: {expected['fraud-detector']}",
        "    search-ranker:",
        f"      image: {expected['search-ranker']}",
    ]
    # a second promote loads what the first wrote (the loader accepts it) and changes nothing
    again = _cli(moto, project, "promote", "--from", "staging", "--to", "prod")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("(unchanged)") == 2, again.stdout
    assert prod_file.read_text().count("mlinfra:releases") == 1

    # prod now runs staging's image: rolling it back by digest finds it in staging's repository
    back = _cli(moto, project, "rollback", "--stack", "prod", "--service", "fraud-detector", "--to", f2)
    assert back.returncode == 0, back.stderr
    assert _pins(project, "prod")["fraud-detector"] == f"{staging_fraud['repositoryUri']}@{f2}"


def test_promote_refuses_an_image_ecr_no_longer_has(moto: str, ecr: Any, project: Path) -> None:
    staging_fraud = _repository(ecr, "staging", "fraud-detector")
    staging_ranker = _repository(ecr, "staging", "search-ranker")
    f1, f2 = _push(ecr, staging_fraud, 2, label="f")
    _push(ecr, staging_ranker, 1, label="r")
    assert _cli(moto, project, "rollback", "--stack", "staging", "--service", "fraud-detector").returncode == 0
    # the lifecycle policy (or a person) expired the image staging is pinned to
    ecr.batch_delete_image(repositoryName=staging_fraud["repositoryName"], imageIds=[{"imageDigest": f1}])
    prod_file = project / "stacks" / "Pulumi.prod.yaml"
    before = prod_file.read_bytes()
    proc = _cli(moto, project, "promote", "--from", "staging", "--to", "prod")
    assert_bad_input(proc, "stack staging", "service fraud-detector", f1, "not in ECR's recorded history", f2[:19])
    assert prod_file.read_bytes() == before


def test_ecr_errors_and_ambiguous_repositories_are_refused(moto: str, ecr: Any, project: Path) -> None:
    repo = _repository(ecr, "staging", "fraud-detector")
    _push(ecr, repo, 1)
    stack_file = project / "stacks" / "Pulumi.staging.yaml"
    gone = repo["repositoryUri"].replace("fraud-detector-repo-staging1a2b", "deleted-repo") + "@sha256:" + "e" * 64
    stack_file.write_text(stack_file.read_text() + f"  mlinfra:releases:\n    fraud-detector:\n      image: {gone}\n")
    proc = _cli(moto, project, "rollback", "--stack", "staging", "--service", "fraud-detector")
    assert_bad_input(proc, "ECR describe_repositories in us-east-1 failed: RepositoryNotFoundException")

    ecr.create_repository(
        repositoryName="other-project-fraud-detector",
        tags=[{"Key": "mlinfra:service", "Value": "fraud-detector"}, {"Key": "mlinfra:stack", "Value": "prod"}],
    )
    _repository(ecr, "prod", "fraud-detector")
    twice = _cli(moto, project, "rollback", "--stack", "prod", "--service", "fraud-detector")
    assert_bad_input(twice, "several ECR repositories", "fraud-detector-repo-prod1a2b, other-project-fraud-detector")


def test_rollback_by_digest_finds_an_image_promoted_from_another_stack(moto: str, ecr: Any, project: Path) -> None:
    # prod's pins from the pipeline are not in git: the digest comes from `pulumi stack output releases`
    staging = _repository(ecr, "staging", "fraud-detector")
    prod = _repository(ecr, "prod", "fraud-detector")
    s1, _ = _push(ecr, staging, 2, label="s")
    _push(ecr, prod, 1, label="p")
    proc = _cli(moto, project, "rollback", "--stack", "prod", "--service", "fraud-detector", "--to", s1)
    assert proc.returncode == 0, proc.stderr
    assert _pins(project, "prod") == {"fraud-detector": f"{staging['repositoryUri']}@{s1}"}
