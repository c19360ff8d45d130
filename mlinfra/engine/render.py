"""`mlinfra render`: write what the cloud would receive, from the recorded resource inputs.

Rendering is generic by resource type, never by component: whatever the program registers is
what gets written, so a component change cannot slip past the validators that read this
output. Layout (docs/architecture.md, "Contracts"):

    kubernetes/<namespace>.<kind>.<name>.yaml   one Kubernetes object per file (one document)
    ecs/<family>.json                           ECS RegisterTaskDefinition input
    iam/<resource>.<policy|trust>.json          IAM policy and trust documents
    prometheus/<namespace>.<name>.yaml          plain Prometheus rule files (from PrometheusRule)
    prometheus/amp.<name>.yaml                  the rule file an AMP rule groups namespace receives
    images/<service>/                           the Docker build context, Dockerfile included
    helm/releases.yaml                          Helm releases (chart, version, values) for review
    monitoring/alertmanager.yaml                the Alertmanager configuration (EKS: the chart's
                                                `alertmanager.config`; ECS: AMP's definition)
    monitoring/dashboards/<name>.json           Grafana dashboards (EKS: from the sidecar-labelled
                                                ConfigMaps; ECS: no AWS resource holds them, so
                                                they are built from the services, for import)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlinfra.engine.recorder import RecordedResource
from mlinfra.engine.runner import OfflineRun
from mlinfra.engine.task_definition import register_task_definition_input
from mlinfra.errors import RenderError
from mlinfra.monitoring.dashboards import DASHBOARD_LABEL, dashboard_json, stack_dashboards

MARKER = ".mlinfra-render"
OWNED_DIRS = ("kubernetes", "ecs", "iam", "prometheus", "images", "helm", "monitoring")
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
AMP_RULES = "aws:amp/ruleGroupNamespace:RuleGroupNamespace"
AMP_ALERTMANAGER = "aws:amp/alertManagerDefinition:AlertManagerDefinition"
IMAGE_TYPES = ("docker:index/image:Image",)
IAM_DOCUMENTS = {
    "aws:iam/rolePolicy:RolePolicy": ("policy", "policy"),
    "aws:iam/policy:Policy": ("policy", "policy"),
    "aws:iam/role:Role": ("assumeRolePolicy", "trust"),
}


@dataclass
class Rendered:
    """What one render wrote, relative to the output directory."""

    out: Path
    files: list[str] = field(default_factory=list)

    def by_dir(self, top: str) -> list[Path]:
        return [self.out / f for f in self.files if f.startswith(top + "/")]


def kubernetes_api(type_token: str) -> tuple[str, str] | None:
    """`kubernetes:apps/v1:Deployment` -> (`apps/v1`, `Deployment`); core group -> `v1`."""
    parts = type_token.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes" or type_token == HELM_RELEASE:
        return None
    group_version, kind = parts[1], parts[2]
    if group_version == "index" or kind == "Provider":
        return None
    if group_version.startswith("core/"):
        group_version = group_version.removeprefix("core/")
    return group_version, kind


def kubernetes_object(res: RecordedResource) -> dict[str, Any] | None:
    api = kubernetes_api(res.type)
    if api is None:
        return None
    api_version, kind = api
    body = {k: v for k, v in res.inputs.items() if k not in ("apiVersion", "kind")}
    metadata = dict(body.pop("metadata", None) or {})
    # Without a name Pulumi auto-names from the logical name (plus a random suffix).
    metadata.setdefault("name", res.name)
    # Kubernetes' own key order reads best: apiVersion, kind, metadata, then the rest.
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **body}


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text.lower())


def _dump_yaml(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=1000, allow_unicode=True)


def _dump_json(doc: Any) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def _parse_document(res: RecordedResource, key: str) -> Any:
    text = res.inputs.get(key)
    if not isinstance(text, str):
        raise RenderError(f"{res.type} {res.name}: input {key!r} is not a JSON document")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # A masked secret ("[secret]") or an unresolved value: refuse rather than guess.
        raise RenderError(f"{res.type} {res.name}: input {key!r} is not valid JSON ({exc})") from None


def _rule_file(res: RecordedResource) -> str:
    """An AMP rule groups namespace's `data`, verbatim: it is already a Prometheus rule file."""
    text = res.inputs.get("data")
    try:
        doc = yaml.safe_load(text) if isinstance(text, str) else None
    except yaml.YAMLError as exc:
        raise RenderError(f"{res.type} {res.name}: input 'data' is not valid YAML ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
        raise RenderError(
            f"{res.type} {res.name}: input 'data' is not a Prometheus rule file (a mapping with `groups`)"
        )
    return str(text)


def _amp_alertmanager(res: RecordedResource) -> str:
    """The Alertmanager configuration inside an AMP alert manager definition."""
    text = res.inputs.get("definition")
    try:
        doc = yaml.safe_load(text) if isinstance(text, str) else None
        config = yaml.safe_load(doc["alertmanager_config"]) if isinstance(doc, dict) else None
    except (yaml.YAMLError, KeyError) as exc:
        raise RenderError(
            f"{res.type} {res.name}: input 'definition' is not an alert manager definition ({exc})"
        ) from None
    if not isinstance(config, dict):
        raise RenderError(f"{res.type} {res.name}: input 'definition' has no `alertmanager_config` mapping")
    return _dump_yaml(config)


def _service_of_image(res: RecordedResource, by_urn: dict[str, RecordedResource]) -> str:
    parent = by_urn.get(res.parent)
    if parent is not None and parent.type == "mlinfra:index:ServiceImage":
        return parent.name
    return res.name.removesuffix("-image")


def check_out_dir(out: Path) -> None:
    """Refuse a file, a foreign non-empty directory or an unwritable place as the output
    directory (cheap, so the CLI checks it before running the program)."""
    if out.exists() and not out.is_dir():
        raise RenderError(
            f"--out {out}: exists and is not a directory; allowed: a new or previously rendered directory"
        )
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise RenderError(
            f"--out {out}: directory is not empty and was not written by "
            "`mlinfra render`; allowed: a new, empty or previously rendered directory"
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(prefix=f".{out.name}.probe-", dir=out.parent))
    except OSError as exc:
        raise RenderError(
            f"--out {out}: cannot create it ({exc.strerror or exc}); allowed: a new or "
            "previously rendered directory in a writable place"
        ) from None


def render(run: OfflineRun, out: Path) -> Rendered:
    """Write every artifact of the run under `out`; returns the relative file list, sorted.

    Everything is written into a temporary sibling of `out` first and moved into place at the
    end, so a failure part-way leaves the previous output as it was.
    """
    out = Path(os.path.abspath(out))
    check_out_dir(out)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.rendering-", dir=out.parent))
    except OSError as exc:
        raise RenderError(
            f"--out {out}: cannot create it ({exc.strerror or exc}); allowed: a new or "
            "previously rendered directory in a writable place"
        ) from None
    try:
        files = _write_all(run, staging)
        (staging / MARKER).write_text("written by `mlinfra render`; rendered sub-directories are replaced\n")
        _move_into_place(staging, out)
    except OSError as exc:
        raise RenderError(
            f"--out {out}: writing failed ({exc.strerror or exc}); the previous output, if any, is unchanged"
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Rendered(out, sorted(files))


def _move_into_place(staging: Path, out: Path) -> None:
    """Replace `out` by `staging`, keeping files in `out` that render does not own."""
    if not out.exists():
        os.rename(staging, out)
        return
    backup = Path(tempfile.mkdtemp(prefix=f".{out.name}.previous-", dir=out.parent))
    os.rmdir(backup)
    os.rename(out, backup)
    kept = [e.name for e in backup.iterdir() if e.name not in OWNED_DIRS and e.name != MARKER]
    try:
        for name in kept:
            os.rename(backup / name, staging / name)
        os.rename(staging, out)
    except OSError:
        for name in kept:  # put the previous output back exactly as it was
            if (staging / name).exists():
                os.rename(staging / name, backup / name)
        os.rename(backup, out)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def _write_all(run: OfflineRun, out: Path) -> dict[str, str]:
    by_urn = {r.urn: r for r in run.resources}
    files: dict[str, str] = {}
    releases: list[dict[str, Any]] = []

    for res in sorted(run.resources, key=lambda r: r.urn):
        obj = kubernetes_object(res)
        if obj is not None:
            ns = obj["metadata"].get("namespace", "_cluster")
            name = f"kubernetes/{_slug(ns)}.{obj['kind'].lower()}.{_slug(obj['metadata']['name'])}.yaml"
            files[name] = _dump_yaml(obj)
            if obj["kind"] == "PrometheusRule":
                rules = {"groups": obj.get("spec", {}).get("groups", [])}
                files[f"prometheus/{_slug(ns)}.{_slug(obj['metadata']['name'])}.yaml"] = _dump_yaml(rules)
            if obj["kind"] == "ConfigMap" and (obj["metadata"].get("labels") or {}).get(DASHBOARD_LABEL[0]):
                for key, text in sorted((obj.get("data") or {}).items()):
                    files[f"monitoring/dashboards/{_slug(key)}"] = str(text)
        elif res.type == HELM_RELEASE:
            releases.append(
                {k: res.inputs.get(k) for k in ("name", "namespace", "chart", "version", "repositoryOpts", "values")}
            )
            config = ((res.inputs.get("values") or {}).get("alertmanager") or {}).get("config")
            if isinstance(config, dict):
                files["monitoring/alertmanager.yaml"] = _dump_yaml(config)
        elif res.type == AMP_ALERTMANAGER:
            files["monitoring/alertmanager.yaml"] = _amp_alertmanager(res)
        elif res.type in IAM_DOCUMENTS:
            key, suffix = IAM_DOCUMENTS[res.type]
            if key in res.inputs:
                files[f"iam/{_slug(res.name)}.{suffix}.json"] = _dump_json(_parse_document(res, key))
        elif res.type == AMP_RULES:
            files[f"prometheus/amp.{_slug(str(res.inputs.get('name') or res.name))}.yaml"] = _rule_file(res)
        elif res.type == "aws:ecs/taskDefinition:TaskDefinition":
            payload = register_task_definition_input(res.inputs)
            files[f"ecs/{_slug(str(payload['family']))}.json"] = _dump_json(payload)

    if run.deployment.settings.platform == "ecs":
        for name, board in stack_dashboards(
            run.deployment.stack, list(run.deployment.services), platform="ecs"
        ).items():
            files[f"monitoring/dashboards/{_slug(name)}"] = dashboard_json(board)

    for path, text in sorted(files.items()):
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    if releases:
        (out / "helm").mkdir(exist_ok=True)
        (out / "helm" / "releases.yaml").write_text(_dump_yaml({"releases": releases}))
        files["helm/releases.yaml"] = ""

    for res in sorted(run.resources, key=lambda r: r.urn):
        if res.type in IMAGE_TYPES:
            files.update(_copy_build_context(res, by_urn, run, out))
    return files


def _copy_build_context(
    res: RecordedResource, by_urn: dict[str, RecordedResource], run: OfflineRun, out: Path
) -> dict[str, str]:
    build = res.inputs.get("build")
    context = build.get("context") if isinstance(build, dict) else None
    if not isinstance(context, str):
        raise RenderError(f"{res.type} {res.name}: no build context recorded")
    source = Path(context) if Path(context).is_absolute() else run.deployment.root / context
    if not source.is_dir():
        raise RenderError(f"{res.type} {res.name}: build context {context} was not generated")
    service = _slug(_service_of_image(res, by_urn))
    target = out / "images" / service
    shutil.copytree(source, target)
    return {
        f"images/{service}/{p.relative_to(target).as_posix()}": "" for p in sorted(target.rglob("*")) if p.is_file()
    }
