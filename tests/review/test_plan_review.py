"""`mlinfra plan` with cost and policies: determinism, masking, markdown, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.review.conftest import AVAILABLE_STACKS, assert_bad_input, mlinfra


def test_plan_json_is_byte_identical_twice(plans: dict[str, Any]) -> None:
    again = mlinfra("plan", "--stack", "staging", "--format", "json")
    assert again.stdout == json.dumps(plans["staging"], indent=2, sort_keys=True) + "\n"


def test_plan_fills_cost_and_policies_and_masks_secrets(plans: dict[str, Any]) -> None:
    doc = plans["staging"]
    assert doc["cost"]["total"]["min"] > 0
    assert doc["policies"]["passed"] is True
    [secret] = [
        r
        for r in doc["resources"]
        if r["type"] == "kubernetes:core/v1:Secret" and r["name"] == "fraud-detector-secrets"
    ]
    # Masked per key (recorder.mask_secrets): the key names stay so a rendered Secret is
    # schema-valid, every value is the mask.
    assert secret["inputs"]["stringData"] == {"fraud-api-key": "[secret]"}
    assert "c3RhZ2luZy1ub3QtYS1yZWFsLWNpcGhlcnRleHQ" not in json.dumps(doc)


def test_plan_markdown_has_totals_cost_and_policies() -> None:
    proc = mlinfra("plan", "--stack", "prod", "--format", "markdown")
    assert proc.returncode == 0, proc.stderr
    head = proc.stdout.splitlines()[0]
    assert head.startswith("### mlinfra / prod: ")
    assert "/month" in head
    assert "prices taken 2026-06-17" in proc.stdout
    assert "**Policies (prod, 41 rules):** passed" in proc.stdout


def test_unknown_stack_is_bad_input() -> None:
    assert_bad_input(
        mlinfra("plan", "--stack", "qa"), "stacks/Pulumi.qa.yaml", "--stack", f"available stacks: {AVAILABLE_STACKS}"
    )


def test_stack_file_with_yaml_syntax_error_is_bad_input(project: Path) -> None:
    path = project / "stacks" / "Pulumi.staging.yaml"
    path.write_text(path.read_text().replace("  mlinfra:tier: staging", "  mlinfra:tier: [staging"))
    assert_bad_input(
        mlinfra("plan", "--stack", "staging", cwd=project), "stacks/Pulumi.staging.yaml", "YAML syntax, line"
    )
    assert_bad_input(mlinfra("diff", "prod", "staging", cwd=project), "stacks/Pulumi.staging.yaml")
