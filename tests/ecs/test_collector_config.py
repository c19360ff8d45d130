"""The ADOT sidecar's configuration uses only keys the pinned collector release knows, and none
it deprecates: checked against the config structs of that release (tests/fixtures/upstream/adot-collector)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from mlinfra.components.ecs_task import collector_config
from mlinfra.spec.ecs import ADOT_IMAGE
from mlinfra.spec.service import ServiceSpec

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "upstream" / "adot-collector" / "config-keys.json"
UPSTREAM = json.loads(FIXTURE.read_text())
SECTIONS = ("extensions", "receivers", "processors", "exporters")


def _schema_path(path: tuple[str, ...]) -> str:
    """Our config path -> the fixture's: component ids become their type, pipeline ids `*`."""
    parts = list(path)
    if len(parts) >= 2 and parts[0] in SECTIONS:
        parts[1] = parts[1].split("/", 1)[0]  # `prometheus/ml` is a `prometheus` receiver
    if len(parts) >= 3 and parts[:2] == ["service", "pipelines"]:
        parts[2] = "*"
    return ".".join(parts).replace(".[]", "[]")


def problems(config: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for section in SECTIONS:
        for component in config.get(section, {}):
            kind = component.split("/", 1)[0]
            if kind not in UPSTREAM["components"][section]:
                found.append(f"{section}.{component}: not a {section[:-1]} of this collector build")

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, (*path, "[]"))
            return
        if not isinstance(node, dict):
            return
        where = _schema_path(path)
        if where in UPSTREAM["free_maps"]:
            return
        if where in SECTIONS or where == "service.pipelines":  # maps of component / pipeline ids
            known = UPSTREAM["components"].get(where)
            for key, value in node.items():
                if known is None or key.split("/", 1)[0] in known:  # unknown ones are reported above
                    walk(value, (*path, key))
            return
        if where not in UPSTREAM["paths"]:
            found.append(f"{where or '(top)'}: no upstream schema to check it against")
            return
        for key, value in node.items():
            if key not in UPSTREAM["paths"][where]:
                found.append(f"{where}.{key}: unknown key")
                continue
            if key in UPSTREAM["deprecated"].get(where, []):
                found.append(f"{where}.{key}: deprecated upstream")
            walk(value, (*path, key))

    walk(config, ())
    return found


def _config() -> dict[str, Any]:
    spec = ServiceSpec(name="fraud", model_uri="s3://models/fraud/model.skops")
    text = collector_config(spec, "dev", "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/", "us-east-1")
    return yaml.safe_load(text)


def test_fixture_matches_the_pinned_collector_image() -> None:
    """Bumping the image without re-extracting the fixture must fail here."""
    assert ADOT_IMAGE.rsplit(":", 1)[1] == UPSTREAM["collector_image_tag"]


def test_collector_config_uses_current_keys_of_the_pinned_release() -> None:
    assert problems(_config()) == []


def test_self_metrics_are_served_on_loopback_through_a_pull_reader() -> None:
    telemetry = _config()["service"]["telemetry"]["metrics"]
    assert telemetry == {"readers": [{"pull": {"exporter": {"prometheus": {"host": "127.0.0.1", "port": 8888}}}}]}


def test_the_check_catches_deprecated_and_unknown_keys() -> None:
    config = _config()
    config["service"]["telemetry"]["metrics"] = {"address": "127.0.0.1:8888"}
    config["exporters"]["prometheusremotewrite"]["sigv4"] = {"region": "us-east-1"}
    config["processors"]["groupbyattrs"] = {}
    assert sorted(problems(config)) == [
        "exporters.prometheusremotewrite.sigv4: unknown key",
        "processors.groupbyattrs: not a processor of this collector build",
        "service.telemetry.metrics.address: deprecated upstream",
    ]
