"""`--live-prices`: the boto3 Price List API and EC2 spot price history paths.

moto (5.2.5) implements no Pricing API, so the request/response shapes are checked with
botocore's Stubber (which validates both against the real service model), and a real moto
server on 127.0.0.1 shows how the command fails when the endpoint cannot answer. moto does
answer DescribeSpotPriceHistory (one fixed price per offered zone), so the spot path also runs
against the real server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from mlinfra.engine.cost import load_prices
from mlinfra.engine.live_prices import (
    SPOT_PRODUCT,
    LivePricesError,
    fetch_ec2_hourly,
    fetch_spot_hourly,
    on_demand_hourly,
)
from tests.review.conftest import assert_bad_input, mlinfra
from tests.support.moto_server import running_moto

CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def _price_item(itype: str, usd: str) -> str:
    return json.dumps(
        {
            "product": {"attributes": {"instanceType": itype}},
            "terms": {
                "OnDemand": {
                    "T1": {
                        "priceDimensions": {
                            "D1": {"unit": "Hrs", "pricePerUnit": {"USD": usd}, "description": "On demand"}
                        }
                    }
                }
            },
        }
    )


def _client() -> object:
    return boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_fetch_parses_the_price_list_and_sends_valid_filters() -> None:
    client = _client()
    with Stubber(client) as stub:
        for itype, usd in (("g5.xlarge", "1.0060000000"), ("m6i.large", "0.0960000000")):
            stub.add_response(
                "get_products",
                {"PriceList": [_price_item(itype, usd)], "FormatVersion": "aws_v1"},
                {
                    "ServiceCode": "AmazonEC2",
                    "FormatVersion": "aws_v1",
                    "MaxResults": 10,
                    "Filters": [
                        {"Type": "TERM_MATCH", "Field": k, "Value": v}
                        for k, v in {
                            "instanceType": itype,
                            "location": "US East (N. Virginia)",
                            "operatingSystem": "Linux",
                            "tenancy": "Shared",
                            "preInstalledSw": "NA",
                            "capacitystatus": "Used",
                        }.items()
                    ],
                },
            )
        assert fetch_ec2_hourly("us-east-1", ["g5.xlarge", "m6i.large"], client) == {
            "g5.xlarge": 1.006,
            "m6i.large": 0.096,
        }
        stub.assert_no_pending_responses()


def test_missing_price_is_an_error_not_a_silent_zero() -> None:
    client = _client()
    with Stubber(client) as stub:
        stub.add_response("get_products", {"PriceList": [], "FormatVersion": "aws_v1"})
        with pytest.raises(LivePricesError, match=r"no on-demand Linux price for g5\.xlarge"):
            fetch_ec2_hourly("us-east-1", ["g5.xlarge"], client)


def test_live_rates_replace_the_shipped_ones() -> None:
    prices = load_prices("us-east-1", {"g5.xlarge": 1.5})
    assert prices is not None
    assert prices.ec2("g5.xlarge") == {"hourly": 1.5, "vcpu": 4, "memory_gib": 16, "gpus": 1}
    assert prices.source.startswith("AWS Price List API (EC2 instances: g5.xlarge)")
    assert on_demand_hourly(_price_item("x", "0.5")) == 0.5


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_moto(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        yield endpoint


def _moto_client(service: str, endpoint: str) -> object:
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.mark.slow
def test_cli_live_prices_against_a_real_moto_server_fails_cleanly(moto_endpoint: str) -> None:
    client = _moto_client("pricing", moto_endpoint)
    with pytest.raises(LivePricesError, match="the AWS Price List API failed"):
        fetch_ec2_hourly("us-east-1", ["g5.xlarge"], client)
    proc = mlinfra(
        "plan", "--stack", "staging", "--live-prices", env={**CREDS, "AWS_ENDPOINT_URL_PRICING": moto_endpoint}
    )
    assert_bad_input(proc, "--live-prices", "Price List API failed", "run without --live-prices")


NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _spot(itype: str, zone: str, usd: str, age_h: float) -> dict[str, object]:
    return {
        "InstanceType": itype,
        "AvailabilityZone": zone,
        "ProductDescription": "Linux/UNIX",
        "SpotPrice": usd,
        "Timestamp": NOW - timedelta(hours=age_h),
    }


def test_spot_rate_is_the_highest_zones_latest_price_and_the_request_is_valid() -> None:
    client = boto3.client("ec2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    history = [
        _spot("g5.xlarge", "us-east-1a", "0.4100", 1),
        _spot("g5.xlarge", "us-east-1a", "0.9000", 30),  # superseded in the same zone
        _spot("g5.xlarge", "us-east-1b", "0.4500", 2),
        _spot("m6i.large", "us-east-1a", "0.0400", 1),
    ]
    with Stubber(client) as stub:
        stub.add_response(
            "describe_spot_price_history",
            {"SpotPriceHistory": history},
            {
                "InstanceTypes": ["g5.xlarge", "m6i.large", "p9.huge"],
                "ProductDescriptions": [SPOT_PRODUCT],
                "StartTime": NOW,
            },
        )
        rates = fetch_spot_hourly("us-east-1", ["g5.xlarge", "m6i.large", "p9.huge"], client, now=NOW)
        stub.assert_no_pending_responses()
    assert rates == {"g5.xlarge": 0.45, "m6i.large": 0.04}  # no spot offer: left out, not zero


def test_spot_history_failure_is_one_clear_error() -> None:
    client = boto3.client("ec2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_client_error("describe_spot_price_history", "UnauthorizedOperation", "not allowed")
        with pytest.raises(LivePricesError, match=r"spot price history failed.*run without --live-prices"):
            fetch_spot_hourly("us-east-1", ["g5.xlarge"], client, now=NOW)


@pytest.mark.slow
def test_spot_prices_from_a_real_moto_server(moto_endpoint: str) -> None:
    client = _moto_client("ec2", moto_endpoint)
    rates = fetch_spot_hourly("us-east-1", ["g5.xlarge", "m6i.large"], client)
    assert set(rates) == {"g5.xlarge", "m6i.large"}
    assert all(0 < r < 1 for r in rates.values())
    prices = load_prices("us-east-1", spot=rates)
    assert prices is not None
    assert prices.ec2("g5.xlarge")["spot_hourly"] == rates["g5.xlarge"]  # type: ignore[index]
