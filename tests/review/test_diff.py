"""`mlinfra diff`: stacks and git refs, JSON shape, markdown, noise handling, determinism."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlinfra.engine.diff import diff_documents, flatten, logical_key
from tests.review.conftest import AVAILABLE_STACKS, assert_bad_input, copy_project, mlinfra


@pytest.fixture(scope="module")
def stack_diff() -> dict[str, Any]:
    proc = mlinfra("diff", "staging", "prod", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def _props(result: dict[str, Any], name: str) -> dict[str, tuple[Any, Any]]:
    [change] = [c for c in result["changed"] if c["urn"].endswith("::" + name)]
    return {p["path"]: (p["a"], p["b"]) for p in change["properties"]}


def test_diff_json_has_the_documented_shape(stack_diff: dict[str, Any]) -> None:
    assert {"a", "b", "added", "removed", "changed", "cost"} <= set(stack_diff)
    assert (stack_diff["a"], stack_diff["b"]) == ("staging", "prod")
    for change in stack_diff["changed"]:
        assert {"urn", "type", "service", "properties"} <= set(change)
        assert all(set(p) == {"path", "a", "b"} for p in change["properties"])
    assert set(stack_diff["cost"]) == {"a", "b", "delta"}


def test_diff_lists_the_real_differences_of_the_examples(stack_diff: dict[str, Any]) -> None:
    gpu = _props(stack_diff, "platform-pools-gpu-a10g")
    types = gpu["spec.template.spec.requirements[0].values"]
    assert types == (["g5.xlarge", "g5.2xlarge"], ["g5.2xlarge", "g5.4xlarge"])
    assert gpu["spec.limits['nvidia.com/gpu']"] == ("3", "6")
    assert _props(stack_diff, "fraud-detector-scaledobject")["spec.minReplicaCount"] == (1, 3)
    assert _props(stack_diff, "search-ranker-rollout")["spec.replicas"] == (1, 3)
    # prod has one NAT gateway per zone, staging a single one; only prod names a hosted zone
    added = {r["urn"].rsplit("::", 1)[-1] for r in stack_diff["added"]}
    assert added == {
        "platform-network-nat-b",
        "platform-network-nat-c",
        "platform-addons-external-dns",
        "platform-addons-external-dns-role",
        "platform-addons-external-dns-policy",
    }
    # the Kubernetes Secret exists only where the secret value lives in stack config (staging)
    assert [r["urn"].rsplit("::", 1)[-1] for r in stack_diff["removed"]] == ["fraud-detector-secrets"]


def test_stack_name_is_normalised_not_reported(stack_diff: dict[str, Any]) -> None:
    paths = [p["path"] for c in stack_diff["changed"] for p in c["properties"]]
    assert not [p for p in paths if "mlinfra:stack" in p or "group.name" in p], paths
    # Build context paths contain the stack name; with it normalised the images are identical.
    assert not [c for c in stack_diff["changed"] if c["type"] == "docker:index/image:Image"]


def test_summary_per_service_first_with_cost_delta(stack_diff: dict[str, Any]) -> None:
    summary = {s["service"]: s for s in stack_diff["summary"]}
    assert next(iter(summary)) == "(platform)"
    changes = summary["(platform)"]["changes"]
    assert "platform-pools-gpu-a10g instance types g5.xlarge, g5.2xlarge \u2192 g5.2xlarge, g5.4xlarge" in changes
    assert "platform-pools-gpu-a10g limit nvidia.com/gpu 3 \u2192 6" in changes
    assert "platform-pools-cpu capacity type spot \u2192 on-demand" in changes
    assert "replicas 1\u20133 \u2192 3\u201312" in summary["fraud-detector"]["changes"]
    delta = summary["search-ranker"]["cost_delta"]
    # 1 -> 3 replicas, each a whole GPU node: g5.xlarge share in staging, g5.2xlarge share in prod
    assert delta["min"] == pytest.approx(3 * 1.212 * 730 - 1.006 * 730, abs=0.05)
    cost = stack_diff["cost"]
    assert cost["delta"]["min"] == pytest.approx(cost["b"]["min"] - cost["a"]["min"], abs=0.01)
    assert cost["delta"]["min"] > 0


def test_diff_json_is_byte_identical_twice(stack_diff: dict[str, Any]) -> None:
    again = mlinfra("diff", "staging", "prod", "--format", "json")
    assert again.stdout == json.dumps(stack_diff, indent=2, sort_keys=True) + "\n"


def test_diff_markdown_is_a_readable_table() -> None:
    proc = mlinfra("diff", "staging", "prod", "--format", "markdown")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert text.startswith("### mlinfra diff: `staging` \u2192 `prod`")
    assert "| monthly cost | staging | prod | delta |" in text
    assert "| `platform-pools-gpu-a10g` | `spec.limits['nvidia.com/gpu']` | `3` | `6` |" in text
    assert "- fraud-detector: " in text


def test_diff_table_renders_names_literally() -> None:
    proc = mlinfra("diff", "staging", "prod")
    assert proc.returncode == 0, proc.stderr
    assert "[name=model]" in proc.stdout  # not eaten as rich markup


def _doc(stack: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"stack": stack, "resources": resources, "cost": None}


def _res(stack: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "urn": f"urn:pulumi:{stack}::p::kubernetes:apps/v1:Deployment::svc",
        "type": "kubernetes:apps/v1:Deployment",
        "name": "svc",
        "service": "svc",
        "inputs": inputs,
    }


def test_image_digest_churn_is_collapsed() -> None:
    a = _res("a", {"image": "repo@sha256:" + "1" * 64, "replicas": 1})
    b = _res("b", {"image": "repo@sha256:" + "2" * 64, "replicas": 1})
    result = diff_documents(_doc("a", [a]), _doc("b", [b]))
    assert result["changed"] == []
    assert [c["path"] for c in result["collapsed"]] == ["image"]


def test_named_lists_are_matched_by_name_not_position() -> None:
    one = flatten({"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]})
    two = flatten({"env": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]})
    assert one == two
    assert one["env[name=A].value"] == "1"
    assert logical_key("urn:pulumi:prod::proj::T::n") == "proj::T::n"


def test_diff_needs_two_stacks_or_base_and_stack() -> None:
    assert_bad_input(mlinfra("diff", "staging"), "mlinfra diff", "--base GITREF --stack STACK")


def test_diff_unknown_stack_is_bad_input() -> None:
    assert_bad_input(mlinfra("diff", "staging", "qa"), "stacks/Pulumi.qa.yaml", f"available stacks: {AVAILABLE_STACKS}")


# ---------------------------------------------------------------- --base GITREF


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A throwaway git repository holding a copy of the example project (never the real tree)."""
    path = copy_project(tmp_path / "repo")
    _git(path, "init", "-q", "-b", "main")
    _git(path, "-c", "user.email=t@example.com", "-c", "user.name=t", "add", "-A")
    _git(path, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "-m", "base")
    return path


@pytest.mark.slow
def test_base_diff_unchanged_then_exactly_one_replica_change(repo: Path) -> None:
    unchanged = mlinfra("diff", "--base", "HEAD", "--stack", "staging", "--format", "json", cwd=repo)
    assert unchanged.returncode == 0, unchanged.stderr
    result = json.loads(unchanged.stdout)
    assert (result["added"], result["removed"], result["changed"]) == ([], [], [])
    assert result["cost"]["delta"] == {"min": 0.0, "max": 0.0}

    stack_file = repo / "stacks" / "Pulumi.staging.yaml"
    stack_file.write_text(
        stack_file.read_text().replace("search-ranker:\n      replicas: 1", "search-ranker:\n      replicas: 2")
    )
    edited = mlinfra("diff", "--base", "HEAD", "--stack", "staging", "--format", "json", cwd=repo)
    assert edited.returncode == 0, edited.stderr
    result = json.loads(edited.stdout)
    assert (result["added"], result["removed"]) == ([], [])
    assert [(c["urn"].rsplit("::", 1)[-1], c["properties"]) for c in result["changed"]] == [
        ("search-ranker-rollout", [{"path": "spec.replicas", "a": 1, "b": 2}])
    ]
    summary = {s["service"]: s for s in result["summary"]}
    assert summary["search-ranker"]["changes"] == ["replicas 1 \u2192 2"]
    assert summary["search-ranker"]["cost_delta"]["min"] == pytest.approx(1.006 * 730, abs=0.05)
    markdown = mlinfra("diff", "--base", "HEAD", "--stack", "staging", "--format", "markdown", cwd=repo)
    assert "- search-ranker: replicas 1 \u2192 2, +$734.38/month" in markdown.stdout
    # the temporary worktree is gone again
    listed = subprocess.run(["git", "worktree", "list"], cwd=repo, capture_output=True, text=True, check=True)
    assert len(listed.stdout.strip().splitlines()) == 1


def test_base_ref_that_does_not_exist_is_bad_input(repo: Path) -> None:
    assert_bad_input(
        mlinfra("diff", "--base", "no-such-branch", "--stack", "staging", cwd=repo),
        "--base",
        "no-such-branch",
        "an existing commit, branch or tag",
    )


def test_base_outside_a_git_repository_is_bad_input(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "plain")
    assert_bad_input(mlinfra("diff", "--base", "HEAD", "--stack", "staging", cwd=project), "git repository")
