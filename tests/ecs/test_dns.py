"""Route 53 alias records for the exported `https://<service>.<domain>` names (ECS), sent to a
real moto server; without a hosted zone the plan says DNS is left to the user."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import validate_parameters
from pydantic import ValidationError

from mlinfra.engine.runner import run_offline
from mlinfra.spec.stack import StackSettings

from .conftest import Plan
from .test_ecs_moto import client, moto_endpoint  # noqa: F401  (the moto server fixture)

RECORD = "aws:route53/record:Record"
ZONE = "Z0123456789ABCDEFGHIJ"
SHAPE = (
    botocore.session.get_session().get_service_model("route53").operation_model("ChangeResourceRecordSets").input_shape
)


def test_without_a_zone_the_plan_says_dns_is_left_to_the_user(dev: Plan) -> None:
    assert dev.of_type(RECORD) == []
    left = "left to you (mlinfra:hostedZoneId is not set): point it at load_balancers.internal"
    assert dev.run.outputs["dns"] == {
        "fraud-detector.dev.ml.acme.example": left,
        "search-ranker.dev.ml.acme.example": left,
    }


@pytest.fixture
def zoned(edited_project: Callable[..., Path]) -> Plan:
    return Plan(run_offline(edited_project(lambda c: c.update({"mlinfra:hostedZoneId": ZONE})), "dev"))


def test_alias_records_point_each_name_at_its_load_balancer(zoned: Plan, moto_endpoint: str) -> None:  # noqa: F811
    records = {r.inputs["name"]: r.inputs for r in zoned.of_type(RECORD)}
    assert sorted(records) == ["fraud-detector.dev.ml.acme.example", "search-ranker.dev.ml.acme.example"]
    alb = zoned.one("aws:lb/loadBalancer:LoadBalancer", "platform-internal-alb")
    route53 = client(moto_endpoint, "route53")
    zone = route53.create_hosted_zone(Name="dev.ml.acme.example", CallerReference="t")["HostedZone"]["Id"]
    for name, inputs in records.items():
        assert inputs["zoneId"] == ZONE
        assert inputs["type"] == "A"
        (alias,) = inputs["aliases"]
        assert alias["zoneId"] == "Z35SXDOTRQ7X7K"  # the ALB's canonical zone (mocked output)
        assert alb.urn in zoned.one(RECORD, f"dns-{name.split('.')[0]}").dependencies
        change = {
            "HostedZoneId": zone,
            "ChangeBatch": {
                "Changes": [
                    {
                        "Action": "UPSERT",
                        "ResourceRecordSet": {
                            "Name": name,
                            "Type": "A",
                            "AliasTarget": {
                                "HostedZoneId": alias["zoneId"],
                                "DNSName": "internal-a-1.us-east-1.elb.amazonaws.com",
                                "EvaluateTargetHealth": alias["evaluateTargetHealth"],
                            },
                        },
                    }
                ]
            },
        }
        validate_parameters(change, SHAPE)
        route53.change_resource_record_sets(**change)
    stored = route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    assert sorted(r["Name"] for r in stored if r["Type"] == "A") == [
        "fraud-detector.dev.ml.acme.example.",
        "search-ranker.dev.ml.acme.example.",
    ]
    assert (
        zoned.run.outputs["dns"]["fraud-detector.dev.ml.acme.example"]
        == f"Route 53 alias in {ZONE} -> the internal load balancer"
    )


def _settings(**extra: Any) -> dict[str, Any]:
    return {
        "region": "us-east-1",
        "domain": "ml.example.com",
        "certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/4c2e8a1f-6b3d-4f9e-a7c5-0d2b4e6f8a1c",
        **extra,
    }


def test_hosted_zone_is_a_route53_zone_id_on_both_platforms() -> None:
    assert StackSettings.model_validate(_settings(hostedZoneId=ZONE)).hosted_zone_id == ZONE  # EKS: external-dns
    with pytest.raises(ValidationError, match="hosted zone id"):
        StackSettings.model_validate(_settings(platform="ecs", hostedZoneId="zone-1"))
    assert StackSettings.model_validate(_settings(hostedZoneId="")).hosted_zone_id is None
