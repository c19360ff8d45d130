"""Declarations + stack config -> one validated `Deployment`, or one `SpecError` with every problem.

Both engines come through here: the real Pulumi engine hands over its config through the
Pulumi runtime, the offline engine reads `stacks/Pulumi.<stack>.yaml` itself.
"""

from __future__ import annotations

import json
import os
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from mlinfra.spec.alerting import alerting_problems
from mlinfra.spec.declare import ModelService, collecting
from mlinfra.spec.errors import MISSING, Problem, SpecError
from mlinfra.spec.service import ALLOWED_URI, ServiceSpec
from mlinfra.spec.stack import StackSettings

NAMESPACE = "mlinfra"
SECRET_PLACEHOLDER = "[secret]"
_STACK_KEYS = {
    to_camel(name): name for name in StackSettings.model_fields if name != "region"
}


@dataclass(frozen=True)
class RawConfig:
    """Stack config as `namespace:key` -> value, plus which keys hold secrets."""

    values: dict[str, Any]
    secret_keys: frozenset[str] = frozenset()
    file: str = "<config>"


@dataclass(frozen=True)
class Deployment:
    """Everything the components need. Secret values are kept apart and never printed."""

    project: str
    stack: str
    settings: StackSettings
    services: tuple[ServiceSpec, ...]
    stack_file: str
    root: Path
    secret_values: dict[str, str] = field(default_factory=dict, repr=False, compare=False)


def stack_file(root: Path, stack: str) -> Path:
    return root / "stacks" / f"Pulumi.{stack}.yaml"


def read_stack_file(root: Path, stack: str) -> RawConfig:
    """Parse the stack's YAML; `secure:` values are ciphertext offline, so they become a mask."""
    path = stack_file(root, stack)
    shown = os.path.relpath(path, root)
    if not path.is_file():
        available = sorted(p.name[len("Pulumi."):-len(".yaml")]
                           for p in (root / "stacks").glob("Pulumi.*.yaml"))
        raise SpecError([Problem(shown, "--stack", stack,
                                 f"no such stack file; available stacks: {', '.join(available) or 'none'}")])
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise SpecError([Problem(shown, f"(YAML syntax, {where})", MISSING,
                                 f"valid YAML: {getattr(exc, 'problem', exc)}")]) from None
    config = doc.get("config", {}) if isinstance(doc, dict) else None
    if not isinstance(config, dict):
        raise SpecError([Problem(shown, "config", config, "a mapping of `namespace:key: value`")])
    secret_keys = set()
    values: dict[str, Any] = {}
    for key, value in config.items():
        masked, had_secret = _mask_secure(value)
        values[str(key)] = masked
        if had_secret:
            secret_keys.add(str(key))
    return RawConfig(values, frozenset(secret_keys), shown)


def _mask_secure(value: Any) -> tuple[Any, bool]:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER, True
        found = False
        out = {}
        for k, v in value.items():
            out[k], f = _mask_secure(v)
            found = found or f
        return out, found
    if isinstance(value, list):
        items = [_mask_secure(v) for v in value]
        return [v for v, _ in items], any(f for _, f in items)
    return value, False


def pulumi_config_values(raw: RawConfig) -> tuple[dict[str, str], list[str]]:
    """The same config in the wire form the Pulumi CLI gives a program (objects as JSON)."""
    wire = {k: v if isinstance(v, str) else json.dumps(v, sort_keys=True)
            for k, v in raw.values.items()}
    return wire, sorted(raw.secret_keys)


def config_from_pulumi_runtime(stack: str) -> RawConfig:
    """Read the config the engine gave this program (real engine or the offline one)."""
    from pulumi.runtime import config as runtime_config

    merged: dict[str, Any] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    values: dict[str, Any] = {}
    for key, text in merged.items():
        try:
            values[key] = json.loads(text) if isinstance(text, str) and text[:1] in "{[" else text
        except json.JSONDecodeError:
            values[key] = text
    secret = set(runtime_config.get_config_secret_keys_env()) | set(runtime_config._SECRET_KEYS.get())
    return RawConfig(values, frozenset(secret), f"stacks/Pulumi.{stack}.yaml")


def collect_declarations(root: Path) -> tuple[list[ModelService], list[Problem]]:
    """Run every `services/*.py` and gather the `ModelService` calls in them."""
    problems: list[Problem] = []
    found: list[ModelService] = []
    directory = root / "services"
    files = sorted(p for p in directory.glob("*.py") if not p.name.startswith("_"))
    if not files:
        problems.append(Problem("services/", "(files)", MISSING,
                                "at least one services/*.py that declares ModelService(...)"))
    for path in files:
        shown = os.path.relpath(path, root)
        with collecting() as declared:
            try:
                runpy.run_path(str(path), run_name=f"mlinfra_services_{path.stem}")
            except SyntaxError as exc:
                problems.append(Problem(f"{shown}:{exc.lineno}", "(python syntax)", exc.text and exc.text.strip(),
                                        f"valid Python: {exc.msg}"))
            except TypeError as exc:
                problems.append(Problem(shown, "ModelService(...)", MISSING,
                                        f"{exc}; allowed fields: {', '.join(sorted(ServiceSpec.model_fields))}"))
            except Exception as exc:
                problems.append(Problem(shown, "(module)", type(exc).__name__,
                                        f"the file must run without errors: {exc}"))
        for decl in declared:
            decl.file = os.path.relpath(decl.file, root) if os.path.isabs(decl.file) else decl.file
        found.extend(declared)
    return found, problems


def load_deployment(root: Path, project: str, stack: str, raw: RawConfig) -> Deployment:
    """Validate everything; raise one SpecError listing every problem found."""
    declarations, problems = collect_declarations(root)
    settings, secret_values, stack_problems = _settings(raw)
    problems += stack_problems
    services: list[ServiceSpec] = []
    seen: dict[str, str] = {}
    for decl in declarations:
        where = f"{decl.file}:{decl.line}"
        if decl.name in seen:
            problems.append(Problem(where, "name", decl.name,
                                    f"service names must be unique; also declared at {seen[decl.name]}"))
            continue
        seen[decl.name] = where
        overrides = settings.services.get(decl.name, {}) if settings else {}
        spec, spec_problems = _service(decl, overrides, raw.file)
        problems += spec_problems
        if spec is not None:
            services.append(spec)
    if settings is not None:
        for name in sorted(set(settings.services) - set(seen)):
            declared = ", ".join(sorted(seen)) or "none"
            problems.append(Problem(raw.file, f"{NAMESPACE}:services.{name}", name,
                                    f"override of an unknown service; declared services: {declared}"))
        problems += _capacity_problems(settings, services, declarations, raw.file)
        problems += alerting_problems(settings.alerting, settings.platform, services,
                                      set(settings.secrets) | set(settings.secret_arns), raw.file)
    if problems or settings is None:
        raise SpecError(problems)
    return Deployment(project, stack, settings, tuple(sorted(services, key=lambda s: s.name)),
                      raw.file, root, secret_values)


def _settings(raw: RawConfig) -> tuple[StackSettings | None, dict[str, str], list[Problem]]:
    problems: list[Problem] = []
    data: dict[str, Any] = {}
    for key, value in sorted(raw.values.items()):
        namespace, _, name = key.partition(":")
        if namespace != NAMESPACE:
            continue
        if name not in _STACK_KEYS:
            problems.append(Problem(raw.file, key, value if key not in raw.secret_keys else SECRET_PLACEHOLDER,
                                    f"unknown {NAMESPACE}: key; allowed keys: "
                                    f"{', '.join(f'{NAMESPACE}:{k}' for k in sorted(_STACK_KEYS))}"))
            continue
        data[name] = value
    secret_values: dict[str, str] = {}
    if isinstance(data.get("secrets"), dict):
        secret_values = {str(k): str(v) for k, v in data["secrets"].items()}
        data["secrets"] = {k: SECRET_PLACEHOLDER for k in secret_values}
    region = raw.values.get("aws:region")
    if region is None:
        problems.append(Problem(raw.file, "aws:region", MISSING, "the AWS region, e.g. us-east-1"))
        return None, {}, problems
    data["region"] = region
    try:
        settings = StackSettings.model_validate(data)
    except ValidationError as exc:
        problems += [_problem(raw.file, err, StackSettings, prefix=NAMESPACE) for err in exc.errors()]
        return None, {}, problems
    return settings, secret_values, problems


def _service(decl: ModelService, overrides: dict[str, Any], stack_file_name: str
             ) -> tuple[ServiceSpec | None, list[Problem]]:
    merged = decl.raw()
    overridden: set[str] = set()
    aliases = {to_camel(n): n for n in ServiceSpec.model_fields}
    for key, value in overrides.items():
        name = aliases.get(key, key)
        merged[name] = value
        overridden.add(name)
    where = f"{decl.file}:{decl.line}"
    try:
        spec = ServiceSpec.model_validate(merged)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            top = str(err["loc"][0]) if err["loc"] else ""
            if top in overridden:
                problems.append(_problem(stack_file_name, err, ServiceSpec,
                                         prefix=f"{NAMESPACE}:services.{decl.name}", camel=True))
            else:
                problems.append(_problem(where, err, ServiceSpec, prefix=f"ModelService({decl.name!r})"))
        return None, problems
    problems = []
    for fname, value, allowed in spec.cross_field_problems():
        file = stack_file_name if fname in overridden else where
        prefix = f"{NAMESPACE}:services.{decl.name}." if fname in overridden else f"ModelService({decl.name!r})."
        problems.append(Problem(file, prefix + (to_camel(fname) if fname in overridden else fname), value, allowed))
    return (None if problems else spec), problems


def _capacity_problems(settings: StackSettings, services: list[ServiceSpec],
                       declarations: list[ModelService], file: str) -> list[Problem]:
    problems: list[Problem] = []
    where = {d.name: f"{d.file}:{d.line}" for d in declarations}
    capacity = settings.gpu_capacity()
    known = set(settings.secrets) | set(settings.secret_arns)
    for spec in services:
        gpu_type = spec.gpu_type
        if gpu_type is not None and settings.platform == "eks" and gpu_type not in capacity:
            offered = ", ".join(sorted(capacity)) or "none configured"
            problems.append(Problem(where[spec.name], f"ModelService({spec.name!r}).gpu", gpu_type,
                                    f"stack has no GPU node group for {gpu_type}; GPU types in "
                                    f"{file} ({NAMESPACE}:gpuNodeGroups): {offered}"))
        for secret in spec.secrets:
            if secret not in known:
                problems.append(Problem(where[spec.name], f"ModelService({spec.name!r}).secrets", secret,
                                        f"not defined in {file}; define it under {NAMESPACE}:secrets "
                                        f"or {NAMESPACE}:secretArns (defined: {', '.join(sorted(known)) or 'none'})"))
    if settings.platform == "ecs":
        from mlinfra.spec.ecs import ecs_problems

        problems += ecs_problems(settings, services, where, file)
    return problems


def _problem(file: str, err: Any, model: type[BaseModel], *, prefix: str, camel: bool = True) -> Problem:
    fields = _field_names(model)
    # pydantic reports a missing field by its camelCase alias; speak in field names throughout.
    by_alias = {to_camel(n): n for n in fields}
    loc = [by_alias.get(str(p), str(p)) for p in err["loc"]]
    if prefix.endswith(")"):  # a Python declaration: keep the Python field names
        path = prefix + "".join(f".{p}" for p in loc)
    else:
        # Only field names become camelCase; map keys (node group, service names) stay as written.
        joined = ".".join(to_camel(p) if camel and p in fields else p for p in loc)
        path = f"{prefix}:{joined}" if prefix == NAMESPACE else f"{prefix}.{joined}"
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        allowed = _allowed_fields(model, loc[:-1], camel=not prefix.endswith(")"))
        message = f"unknown field; allowed fields: {', '.join(allowed)}"
    elif err["type"] == "missing":
        message = "required field is missing" + _REQUIRED_HINTS.get(loc[-1] if loc else "", "")
    value = err.get("input", MISSING) if err["type"] != "missing" else MISSING
    if isinstance(value, dict) and err["type"] != "extra_forbidden":
        value = "{...}"
    return Problem(file, path, value, message)


# What a required field accepts, so "missing" still names the allowed values.
_REQUIRED_HINTS = {
    "domain": "; allowed: a lowercase DNS domain such as ml.example.com",
    "certificate_arn": "; allowed: an ACM certificate ARN, arn:aws:acm:<region>:<account>:certificate/<uuid>",
    "model_uri": f"; allowed: {ALLOWED_URI}",
    "min_replicas": "; allowed: an integer from 1 to 1000",
    "max_replicas": "; allowed: an integer from 1 to 1000",
    "reason": "; allowed: a written reason of at least 10 characters",
    "id": "; allowed: the policy rule id to suppress",
}


def _field_names(model: type[BaseModel]) -> set[str]:
    """Every field name of `model` and of the models nested in it."""
    names: set[str] = set()
    pending: list[Any] = [model]
    while pending:
        current = pending.pop()
        for name, fld in getattr(current, "model_fields", {}).items():
            if name in names:
                continue
            names.add(name)
            annotation = fld.annotation
            for arg in (*getattr(annotation, "__args__", ()), annotation):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    pending.append(arg)
                for inner in getattr(arg, "__args__", ()):
                    if isinstance(inner, type) and issubclass(inner, BaseModel):
                        pending.append(inner)
    return names


def _allowed_fields(model: type[BaseModel], loc: list[str], *, camel: bool) -> list[str]:
    current: Any = model
    for part in loc:
        fld = getattr(current, "model_fields", {}).get(part) or next(
            (f for n, f in getattr(current, "model_fields", {}).items() if to_camel(n) == part), None)
        annotation = None if fld is None else fld.annotation
        candidates = [a for a in (*getattr(annotation, "__args__", ()), annotation)
                      if isinstance(a, type) and issubclass(a, BaseModel)]
        if candidates:
            current = candidates[0]
        elif annotation is not None and getattr(annotation, "__origin__", None) is dict:
            value_type = annotation.__args__[1]
            if isinstance(value_type, type) and issubclass(value_type, BaseModel):
                current = value_type
    names = [n for n in getattr(current, "model_fields", {}) if n != "region"]
    return sorted(to_camel(n) if camel else n for n in names)


def load_service_file(path: Path, name: str | None = None) -> ServiceSpec:
    """The one service declared in a `services/*.py` file (or the one called `name`), validated
    without any stack overrides: what `mlinfra serve` runs locally."""
    shown = str(path)
    if not path.is_file():
        raise SpecError([Problem(shown, "(file)", MISSING, "an existing services/*.py file")])
    with collecting() as declared:
        try:
            runpy.run_path(str(path), run_name=f"mlinfra_services_{path.stem}")
        except Exception as exc:
            raise SpecError([Problem(shown, "(module)", type(exc).__name__,
                                     f"the file must run without errors: {exc}")]) from None
    names = [d.name for d in declared]
    chosen = [d for d in declared if name is None or d.name == name]
    if len(chosen) != 1:
        raise SpecError([Problem(shown, "--service", name or MISSING,
                                 f"one of the services declared in the file: {', '.join(names) or 'none'}")])
    (decl,) = chosen
    spec, problems = _service(decl, {}, shown)
    problems = [p for p in problems if not p.field.endswith(".bake_model")]  # local files are fine here
    if spec is None and not problems:
        spec = ServiceSpec.model_validate(decl.raw())
    if problems or spec is None:
        raise SpecError(problems)
    return spec
