"""Metric names in a PromQL expression: the runtime's (`mlinfra_*`) and dcgm-exporter's (`DCGM_*`)."""

from __future__ import annotations

import re

_NAME = re.compile(r"\b(mlinfra_[a-z_]+|DCGM_[A-Z_]+)\b")


def metric_names(expr: str) -> set[str]:
    return set(_NAME.findall(expr))
