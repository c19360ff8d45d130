"""Release pins in the stack file: what the program deploys with one, what it records, and how
`mlinfra:releases` is spliced into a stack file without touching anything else."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlinfra.engine.diff import diff_documents
from mlinfra.engine.release_pins import PinWriteError, pinned_text, write_pins
from tests.review.conftest import assert_bad_input, mlinfra

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-detector-repo-0a1b2c3"
PIN = f"{REPO}@sha256:{'ab' * 32}"


def _plan(project: Path, stack: str) -> dict[str, Any]:
    proc = mlinfra("plan", "--stack", stack, "--format", "json", "-C", str(project))
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def _container_image(doc: dict[str, Any], name: str) -> str:
    [deployment] = [r for r in doc["resources"] if r["name"] == f"{name}-deployment"]
    return str(deployment["inputs"]["spec"]["template"]["spec"]["containers"][0]["image"])


def test_every_deploy_records_image_digest_and_model(plans: dict[str, dict[str, Any]]) -> None:
    doc = plans["staging"]
    releases = doc["outputs"]["releases"]
    assert sorted(releases) == ["fraud-detector", "search-ranker"]
    fraud = releases["fraud-detector"]
    images = [r for r in doc["resources"] if r["type"] == "docker:index/image:Image"]
    [image] = [r for r in images if r["service"] == "fraud-detector"]
    # what the workload runs is what is recorded, and it is the image this plan builds
    assert fraud["image"] == _container_image(doc, "fraud-detector")
    assert fraud["image"].startswith(image["inputs"]["imageName"].rsplit(":", 1)[0] + "@sha256:")
    assert fraud["digest"] == fraud["image"].rsplit("@", 1)[1]
    assert fraud["modelUri"] == "s3://acme-models/fraud/v12/model.skops"
    assert fraud["modelSha256"] == "3f7a1c9e5b2d4f608a1e7c3b9d5f2a4c6e8b0d1f3a5c7e9b2d4f6a8c0e1b3d5f"
    assert fraud["pinned"] is False
    assert releases["search-ranker"]["modelSha256"] == ""  # declared without one


def test_a_pinned_release_is_deployed_and_recorded_without_a_new_image(
    project: Path, plans: dict[str, dict[str, Any]]
) -> None:
    stack_file = project / "stacks" / "Pulumi.staging.yaml"
    write_pins(stack_file, {"fraud-detector": PIN}, "stacks/Pulumi.staging.yaml")
    doc = _plan(project, "staging")
    assert _container_image(doc, "fraud-detector") == PIN
    assert doc["outputs"]["releases"]["fraud-detector"] | {"repository": None} == {
        "image": PIN,
        "digest": "sha256:" + "ab" * 32,
        "repository": None,
        "modelUri": "s3://acme-models/fraud/v12/model.skops",
        "modelSha256": "3f7a1c9e5b2d4f608a1e7c3b9d5f2a4c6e8b0d1f3a5c7e9b2d4f6a8c0e1b3d5f",
        "pinned": True,
    }
    # The image resource stays (same URN, same inputs: nothing to build), only unused.
    before = {r["urn"]: r["inputs"] for r in plans["staging"]["resources"] if r["type"].startswith("docker:")}
    after = {r["urn"]: r["inputs"] for r in doc["resources"] if r["type"].startswith("docker:")}
    assert before == after
    # the other service still runs its own build
    assert _container_image(doc, "search-ranker") == _container_image(plans["staging"], "search-ranker")
    # the diff reads it as a release, not as a changed container image
    summary = {s["service"]: s["changes"] for s in diff_documents(plans["staging"], doc)["summary"]}
    assert summary == {"fraud-detector": ["image pinned to sha256:abababababab\u2026, canary 10/50/100 over 10 min"]}


def test_a_bad_pin_is_bad_input_naming_the_field(project: Path) -> None:
    stack_file = project / "stacks" / "Pulumi.staging.yaml"
    text = stack_file.read_text()
    stack_file.write_text(text + "  mlinfra:releases:\n    fraud-detector:\n      image: fraud:v12\n")
    assert_bad_input(
        mlinfra("plan", "--stack", "staging", "-C", str(project)),
        "stacks/Pulumi.staging.yaml",
        "mlinfra:releases.fraud-detector.image",
        "'fraud:v12'",
        "@sha256:<64 hex digits>",
    )
    stack_file.write_text(text + f"  mlinfra:releases:\n    fraud:\n      image: {PIN}\n")
    assert_bad_input(
        mlinfra("plan", "--stack", "staging", "-C", str(project)),
        "mlinfra:releases.fraud",
        "pinned release of an unknown service; declared services: fraud-detector, search-ranker",
    )


STACK = """\
# team comment
config:
  aws:region: us-east-1   # inline comment
  mlinfra:services:
    fraud-detector:
      replicas: 2
  # trailing comment of the config
encryptionsalt: v1:abc
"""


def test_a_pin_is_appended_to_config_and_nothing_else_moves() -> None:
    out = pinned_text(STACK, {"fraud-detector": PIN}, "s.yaml")
    assert out == STACK.replace(
        "      replicas: 2\n",
        f"      replicas: 2\n  mlinfra:releases:\n    fraud-detector:\n      image: {PIN}\n",
    )


def test_an_existing_pin_is_replaced_in_place_and_a_new_service_added() -> None:
    other = PIN.replace("ab", "cd")
    first = pinned_text(STACK, {"fraud-detector": PIN}, "s.yaml")
    second = pinned_text(first, {"fraud-detector": other, "search-ranker": PIN}, "s.yaml")
    assert second == first.replace(
        f"      image: {PIN}\n", f"      image: {other}\n    search-ranker:\n      image: {PIN}\n"
    )
    assert yaml.safe_load(second)["encryptionsalt"] == "v1:abc"


def test_an_empty_flow_mapping_becomes_a_block() -> None:
    text = "config:\n  aws:region: us-east-1\n  mlinfra:releases: {}\n"
    assert pinned_text(text, {"fraud-detector": PIN}, "s.yaml") == (
        f"config:\n  aws:region: us-east-1\n  mlinfra:releases:\n    fraud-detector:\n      image: {PIN}\n"
    )


@pytest.mark.parametrize(
    "text",
    [
        "config: {aws:region: us-east-1}\n",  # a flow `config:` cannot take a block
        "config:\n  mlinfra:releases:\n    fraud-detector: [1]\n",
        "config:\n  mlinfra:releases: {search-ranker: {image: x}}\n",
    ],
)
def test_shapes_the_splice_cannot_handle_are_refused_not_rewritten(text: str) -> None:
    with pytest.raises(PinWriteError, match=r"s\.yaml: cannot add the release pin"):
        pinned_text(text, {"fraud-detector": PIN}, "s.yaml")


def test_the_write_replaces_the_file_atomically_and_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(STACK)
    os.chmod(path, 0o640)
    inode = path.stat().st_ino
    write_pins(path, {"fraud-detector": PIN}, "Pulumi.prod.yaml")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.stat().st_ino != inode  # a new file renamed over the old one, not rewritten in place
    assert [p.name for p in tmp_path.iterdir()] == ["Pulumi.prod.yaml"]
    assert yaml.safe_load(path.read_text())["config"]["mlinfra:releases"] == {"fraud-detector": {"image": PIN}}
