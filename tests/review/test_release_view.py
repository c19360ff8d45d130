"""Plan and diff show releases: a new model is one line per service, not a digest churn."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlinfra.engine.release_view import model_version, rollout_phrase
from tests.review.conftest import copy_project, mlinfra


@pytest.mark.parametrize(
    ("uri", "version"),
    [
        ("s3://acme-models/fraud/v12/model.skops", "v12"),
        ("s3://acme-models/ranker/3/model.pt", "v3"),
        ("https://models.example.com/fraud/model-2.1.onnx", "model-2.1.onnx"),
        ("s3://acme-models/fraud/V2.1/model.skops", "V2.1"),
        ("models/fraud.skops", "fraud.skops"),
    ],
)
def test_model_version_is_the_versioned_path_part(uri: str, version: str) -> None:
    assert model_version(uri) == version


@dataclass(frozen=True)
class _Delivery:
    """The attributes the display reads from a service's `rollout=` (`mlinfra.spec.rollout.Rollout`)."""

    strategy: str
    steps: tuple[int, ...]
    total_minutes: int


def test_rollout_phrase_reads_the_rollout_or_says_rolling() -> None:
    assert rollout_phrase(None) == "rolling"
    assert rollout_phrase(_Delivery("rolling", (100,), 0)) == "rolling"
    assert rollout_phrase(_Delivery("canary", (10, 50, 100), 10)) == "canary 10/50/100 over 10 min"


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=cwd, check=True, capture_output=True
    )


@pytest.mark.slow
def test_a_new_model_version_reads_as_one_release_line(tmp_path: Path) -> None:
    repo = copy_project(tmp_path / "repo")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    service = repo / "services" / "fraud.py"
    service.write_text(service.read_text().replace("fraud/v12/", "fraud/v13/").replace('"3f7a1c9e', '"9b8c7d6e'))
    proc = mlinfra("diff", "--base", "HEAD", "--stack", "staging", "--format", "json", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    summary = {s["service"]: s["changes"] for s in result["summary"]}
    # the model URI in the workload, its S3 read grant, the image tag and digest: all one line
    assert summary == {"fraud-detector": ["model v12 \u2192 v13, canary 10/50/100 over 10 min"]}
    assert {c["name"] for c in result["changed"]} == {"fraud-detector-deployment", "fraud-detector-policy"}
    assert result["collapsed"], "the image digest and build tag changed too, and are collapsed"
    table = mlinfra("diff", "--base", "HEAD", "--stack", "staging", cwd=repo)
    assert "fraud-detector: model v12 \u2192 v13, canary 10/50/100 over 10 min" in table.stdout
    plan = mlinfra("plan", "--stack", "staging", cwd=repo)
    line = "fraud-detector: model v13 (sha256 9b8c7d6e\u2026), image built from this tree, canary 10/50/100 over 10 min"
    assert line in plan.stdout


def test_only_what_the_release_explains_is_folded_into_it() -> None:
    from mlinfra.engine.release_view import explained_values

    a = {"model": "v1", "modelUri": "s3://bucket/model.skops", "modelSha256": "", "image": {"build": "x"}}
    b = {**a, "model": "v2", "modelUri": "s3://bucket/v2/model.skops"}
    # a model at the bucket's root: the bucket name alone must not hide other changes
    assert explained_values(a, b) == {"s3://bucket/model.skops", "s3://bucket/v2/model.skops", "bucket/v2"}


def test_rollout_phrase_of_the_real_rollout_field() -> None:
    # `mlinfra.spec.rollout` arrives with the rollouts branch (issue 14, delivery half)
    rollout = pytest.importorskip("mlinfra.spec.rollout", reason="the `rollout=` field is not merged yet").Rollout
    assert rollout_phrase(rollout()) == "canary 10/50/100 over 10 min"
    assert rollout_phrase(rollout(steps=(10, 100), bake_minutes=15)) == "canary 10/100 over 15 min"
    assert rollout_phrase(rollout(strategy="rolling")) == "rolling"
