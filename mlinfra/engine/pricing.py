"""The price table and the pricer registry the cost estimate and every platform's pricers share.

`PRICERS` maps a resource type token to a function that turns the recorded inputs into a
monthly (low, high) `Line`; the pricers live by platform in `mlinfra.engine.pricers`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources as importlib_resources
from typing import Any

from mlinfra.engine.graph import ResourceGraph as Graph


@dataclass(frozen=True)
class PriceTable:
    region: str
    source: str
    taken: str
    hours: float
    rates: dict[str, Any]
    assumptions: dict[str, Any]

    def ec2(self, instance_type: str) -> dict[str, float] | None:
        found = self.rates["ec2"].get(instance_type)
        return dict(found) if found is not None else None


def load_prices(
    region: str, overrides: dict[str, float] | None = None, spot: dict[str, float] | None = None
) -> PriceTable | None:
    """The shipped table for `region` (None when it has no prices); `overrides` replace EC2 hourly
    rates, `spot` adds spot hourly rates (`spot_hourly`; the shipped table has none)."""
    raw = json.loads(importlib_resources.files("mlinfra.engine").joinpath("prices/aws.json").read_text())
    rates = raw["regions"].get(region)
    if isinstance(rates, str):  # a region whose rate card is identical to another's
        rates = raw["regions"][rates]
    if rates is None:
        return None
    rates = {**rates, "ec2": {k: dict(v) for k, v in rates["ec2"].items()}}
    source, taken = raw["source"], raw["taken"]
    for itype, hourly in (overrides or {}).items():
        rates["ec2"].setdefault(itype, {"vcpu": 0, "memory_gib": 0, "gpus": 0})["hourly"] = hourly
    for itype, hourly in (spot or {}).items():
        if itype in rates["ec2"]:
            rates["ec2"][itype]["spot_hourly"] = hourly
    if overrides:
        source = f"AWS Price List API (EC2 instances: {', '.join(sorted(overrides))}); other rates: {source}"
    if spot:
        source = f"EC2 spot price history (spot: {', '.join(sorted(spot))}); {source}"
    return PriceTable(region, source, taken, float(raw["hours_per_month"]), rates, raw["assumptions"])


def supported_regions() -> list[str]:
    raw = json.loads(importlib_resources.files("mlinfra.engine").joinpath("prices/aws.json").read_text())
    return sorted(raw["regions"])


@dataclass(frozen=True)
class Line:
    low: float
    high: float
    basis: str
    allocated: bool = False
    avoided: float = 0.0
    """Monthly cost elsewhere that this resource saves (NAT processing a VPC endpoint avoids)."""


Pricer = Callable[[dict[str, Any], PriceTable, Graph], Line | str | None]
PRICERS: dict[str, Pricer] = {}


def pricer(*types: str) -> Callable[[Pricer], Pricer]:
    def register(fn: Pricer) -> Pricer:
        for t in types:
            PRICERS[t] = fn
        return fn

    return register


def hourly(rate: float, p: PriceTable, count: float = 1) -> float:
    return rate * p.hours * count


def instances(itype: str, low: int, high: int, disk_gib: float, p: PriceTable, what: str) -> Line | str:
    spec = p.ec2(itype)
    if spec is None or "hourly" not in spec:
        return f"no price for instance type {itype} in {p.region}"
    disk = disk_gib * p.rates["ebs_gp3_gb_month"]
    per = hourly(spec["hourly"], p) + disk
    basis = f"{low}\u2013{high} \u00d7 {itype} ({what}) at ${spec['hourly']}/h"
    basis += f" + {disk_gib:g} GiB gp3" if disk_gib else ""
    return Line(per * low, per * high, basis)
