"""Strict validation of prometheus-operator custom resources with typed models.

kubernetes-validate has no schema for CRDs. The cloudcoil models (generated from the
prometheus-operator CRDs) check types and required fields but accept unknown keys, so a
misspelt field would pass; comparing the input with the model's own dump closes that gap.
"""

from __future__ import annotations

from typing import Any

import cloudcoil.models.prometheus_operator.v1 as operator
from pydantic import ValidationError

MODELS = {"ServiceMonitor": operator.ServiceMonitor, "PrometheusRule": operator.PrometheusRule}


def _unknown_keys(given: Any, known: Any, path: str = "") -> list[str]:
    if isinstance(given, dict):
        if not isinstance(known, dict):
            return [f"{path or '.'}: not an object in the schema"]
        out = []
        for key, value in given.items():
            where = f"{path}.{key}" if path else key
            out += [f"{where}: unknown field"] if key not in known else _unknown_keys(value, known[key], where)
        return out
    if isinstance(given, list) and isinstance(known, list):
        return [
            p for i, (g, k) in enumerate(zip(given, known, strict=False)) for p in _unknown_keys(g, k, f"{path}[{i}]")
        ]
    return []


def crd_problems(doc: dict[str, Any]) -> list[str]:
    """Every schema problem of one ServiceMonitor / PrometheusRule; an unknown kind is one too."""
    model = MODELS.get(doc.get("kind", ""))
    if model is None:
        return [f"no typed model for kind {doc.get('kind')!r}; add one before rendering it"]
    try:
        parsed = model.model_validate(doc)
    except ValidationError as exc:
        return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    dumped = parsed.model_dump(by_alias=True, exclude_none=True, mode="json")
    # Free-form maps (labels, annotations) are dicts in the model too, so they compare equal.
    return _unknown_keys(doc, dumped)
