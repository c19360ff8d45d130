"""Baked remote models: downloaded and verified by the deployer (against a real moto S3 server),
cached by digest, and tags that change with the model, the context and the image provider."""

from __future__ import annotations

import hashlib
from pathlib import Path

import boto3
import pytest

import mlinfra.components.image as image_component
from mlinfra.components.image import image_tag
from mlinfra.image import write_build_context
from mlinfra.image.stage import stage_remote_model, staged_path
from mlinfra.serving.errors import ModelLoadError
from mlinfra.spec.service import ServiceSpec
from tests.ecs.test_ecs_moto import moto_endpoint  # noqa: F401  (the moto server fixture)

MODEL = b"a model's bytes" * 1000
SHA = hashlib.sha256(MODEL).hexdigest()
URI = "s3://acme-models/fraud/v1/model.ubj"


@pytest.fixture
def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    for key, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="acme-models")
    client.put_object(Bucket="acme-models", Key="fraud/v1/model.ubj", Body=MODEL)
    return client


def test_stage_downloads_verifies_and_caches_by_digest(s3, tmp_path: Path) -> None:
    path = stage_remote_model(URI, SHA, tmp_path / "cache")
    assert path == staged_path(tmp_path / "cache", URI, SHA)
    assert path.read_bytes() == MODEL
    s3.delete_object(Bucket="acme-models", Key="fraud/v1/model.ubj")
    assert stage_remote_model(URI, SHA, tmp_path / "cache") == path  # second run: no download


def test_a_mismatching_download_never_enters_the_cache(s3, tmp_path: Path) -> None:
    wrong = "0" * 64
    with pytest.raises(ModelLoadError, match="sha256 mismatch"):
        stage_remote_model(URI, wrong, tmp_path / "cache")
    assert not staged_path(tmp_path / "cache", URI, wrong).exists()
    assert [p.name for p in (tmp_path / "cache" / wrong).iterdir()] == []


def _context(tmp_path: Path, name: str, sha: str, model_file: Path | None = None, port: int = 8080) -> Path:
    return write_build_context(
        tmp_path / name,
        service="fraud",
        model_uri=URI,
        framework="xgboost",
        gpu=False,
        bake_model=True,
        model_sha256=sha,
        model_file=model_file,
        port=port,
    ).parent


def test_tag_follows_the_model_digest_not_whether_it_was_downloaded(tmp_path: Path) -> None:
    staged = tmp_path / "staged.ubj"
    staged.write_bytes(MODEL)
    planned = image_tag(_context(tmp_path, "plan", SHA), SHA)  # offline: the model is not there
    built = image_tag(_context(tmp_path, "up", SHA, staged), SHA)
    assert planned == built
    assert image_tag(_context(tmp_path, "v2", "1" * 64), "1" * 64) != planned  # new model, new tag
    assert image_tag(_context(tmp_path, "port", SHA, port=9000), SHA) != planned  # new context, new tag


def test_a_provider_upgrade_gets_a_new_tag_instead_of_overwriting_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = _context(tmp_path, "ctx", SHA)
    before = image_tag(context, SHA)
    assert image_tag(context, SHA) == before
    monkeypatch.setattr(image_component, "_DOCKER_PROVIDER", "99.0.0")
    assert image_tag(context, SHA) != before


def test_local_baked_model_without_digest_is_tagged_by_its_content(tmp_path: Path) -> None:
    model = tmp_path / "m.skops"
    model.write_bytes(b"one")

    def make(name: str) -> Path:
        return write_build_context(
            tmp_path / name, service="fraud", model_uri=str(model), framework="sklearn", gpu=False, bake_model=True
        ).parent

    first = image_tag(make("a"), None)
    model.write_bytes(b"two")
    assert image_tag(make("b"), None) != first


def test_a_baked_remote_model_without_digest_is_an_input_problem() -> None:
    spec = ServiceSpec(name="fraud", model_uri=URI, bake_model=True)
    assert [f for f, _, _ in spec.cross_field_problems()] == ["model_sha256"]
    assert ServiceSpec(name="fraud", model_uri=URI, bake_model=True, model_sha256=SHA).cross_field_problems() == []
