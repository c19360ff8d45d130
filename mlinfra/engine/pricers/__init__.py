"""Pricers by platform; importing this package registers them all in `pricing.PRICERS`."""

from __future__ import annotations

from mlinfra.engine.pricers import aws, ecs, karpenter, kubernetes

__all__ = ["aws", "ecs", "karpenter", "kubernetes"]
