"""`--live-prices`: refresh EC2 on-demand hourly rates through the AWS Price List API, and spot
rates through EC2's spot price history (boto3).

The Price List API answers from us-east-1 (also ap-south-1, eu-central-1) for every region;
`AWS_ENDPOINT_URL_PRICING` / `AWS_ENDPOINT_URL` point it elsewhere (tests use a local server).
Spot prices are regional (the stack's region; `AWS_ENDPOINT_URL_EC2`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from mlinfra.errors import LivePricesError

# The Price List API names regions by their console location, not their code.
LOCATIONS = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)",
    "eu-central-1": "EU (Frankfurt)",
}


def _filters(region: str, instance_type: str) -> list[dict[str, str]]:
    wanted = {
        "instanceType": instance_type,
        "location": LOCATIONS[region],
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
    }
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in wanted.items()]


def on_demand_hourly(price_item: str) -> float | None:
    """The USD per hour of the first on-demand price dimension of one PriceList entry."""
    doc = json.loads(price_item)
    for term in (doc.get("terms", {}).get("OnDemand") or {}).values():
        for dim in (term.get("priceDimensions") or {}).values():
            usd = (dim.get("pricePerUnit") or {}).get("USD")
            if usd is not None and dim.get("unit") in ("Hrs", "Hours"):
                return float(usd)
    return None


def fetch_ec2_hourly(region: str, instance_types: list[str], client: Any | None = None) -> dict[str, float]:
    """Instance type -> USD/hour for `region`. Raises LivePricesError with the reason."""
    if region not in LOCATIONS:
        raise LivePricesError(
            f"--live-prices: region {region} has no Price List location mapping; "
            f"supported: {', '.join(sorted(LOCATIONS))}"
        )
    if client is None:
        import boto3

        client = boto3.client("pricing", region_name="us-east-1")
    from botocore.exceptions import BotoCoreError, ClientError

    found: dict[str, float] = {}
    try:
        for itype in instance_types:
            reply = client.get_products(
                ServiceCode="AmazonEC2", Filters=_filters(region, itype), FormatVersion="aws_v1", MaxResults=10
            )
            prices = [p for p in (on_demand_hourly(item) for item in reply.get("PriceList", [])) if p]
            if prices:
                found[itype] = min(prices)
    except (BotoCoreError, ClientError) as exc:
        raise LivePricesError(
            f"--live-prices: the AWS Price List API failed ({exc}); "
            "run without --live-prices to use the shipped price table"
        ) from None
    missing = sorted(set(instance_types) - set(found))
    if missing:
        raise LivePricesError(
            f"--live-prices: the AWS Price List API returned no on-demand Linux price for "
            f"{', '.join(missing)} in {region}"
        )
    return found


# The spot product of a Linux instance in a VPC: "Linux/UNIX" as a filter; some answers spell it
# "Linux/UNIX (Amazon VPC)".
SPOT_PRODUCT = "Linux/UNIX"


def fetch_spot_hourly(
    region: str, instance_types: list[str], client: Any | None = None, now: datetime | None = None
) -> dict[str, float]:
    """Instance type -> USD/hour: the highest Linux spot price in force now over the region's zones.

    The highest, because Karpenter may launch in any zone of the stack (the region's zones are a
    superset of them), so the rate errs high; it is still a snapshot: spot prices move during a
    month. A type without a spot offer in the region is left out (it stays priced at on-demand).
    Raises LivePricesError when EC2 cannot answer."""
    if not instance_types:
        return {}
    if client is None:
        import boto3

        client = boto3.client("ec2", region_name=region)
    from botocore.exceptions import BotoCoreError, ClientError

    # With StartTime now, EC2 answers each zone's price in force now (its latest change).
    start = now or datetime.now(UTC)
    latest: dict[tuple[str, str], tuple[datetime, float]] = {}
    try:
        pages = client.get_paginator("describe_spot_price_history").paginate(
            InstanceTypes=instance_types, ProductDescriptions=[SPOT_PRODUCT], StartTime=start
        )
        for page in pages:
            for entry in page.get("SpotPriceHistory", []):
                if not str(entry.get("ProductDescription", "")).startswith(SPOT_PRODUCT):
                    continue
                key = (entry["InstanceType"], entry["AvailabilityZone"])
                stamp = entry["Timestamp"]
                if key not in latest or stamp > latest[key][0]:
                    latest[key] = (stamp, float(entry["SpotPrice"]))
    except (BotoCoreError, ClientError) as exc:
        raise LivePricesError(
            f"--live-prices: EC2's spot price history failed ({exc}); "
            "run without --live-prices to use the shipped price table"
        ) from None
    highest: dict[str, float] = {}
    for (itype, _zone), (_stamp, usd) in latest.items():
        highest[itype] = max(highest.get(itype, 0.0), usd)
    return highest
