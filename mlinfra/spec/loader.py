"""Declarations + stack config -> one validated `Deployment`, or one `SpecError` with every problem.

Both engines come through here: the real Pulumi engine hands over its config through the
Pulumi runtime, the offline engine reads `stacks/Pulumi.<stack>.yaml` itself.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from mlinfra.errors import MISSING, Problem, SpecError, excerpt
from mlinfra.spec.alerting import alerting_problems
from mlinfra.spec.declare import ModelService, collecting
from mlinfra.spec.platforms import RULES
from mlinfra.spec.rollout import effective_rollout
from mlinfra.spec.sandbox import run_project_file, timeout_seconds
from mlinfra.spec.service import ALLOWED_URI, ServiceSpec, uri_scheme
from mlinfra.spec.stack import StackSettings
from mlinfra.spec.stackfile import parse_stack_yaml

NAMESPACE = "mlinfra"
SECRET_PLACEHOLDER = "[secret]"
_STACK_KEYS = {to_camel(name): name for name in StackSettings.model_fields if name != "region"}


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
        available = sorted(
            p.name[len("Pulumi.") : -len(".yaml")] for p in (root / "stacks").glob("Pulumi.*.yaml") if p.is_file()
        )
        what = "is not a file" if path.exists() else "no such stack file"
        raise SpecError(
            [Problem(shown, "--stack", excerpt(stack), f"{what}; available stacks: {', '.join(available) or 'none'}")]
        )
    doc = parse_stack_yaml(path, shown)
    if doc is None:
        doc = {}
    config = doc.get("config", {}) if isinstance(doc, dict) else None
    if not isinstance(config, dict):
        raise SpecError([Problem(shown, "config", _kind(config), "a mapping of `namespace:key: value`")])
    secret_keys = set()
    values: dict[str, Any] = {}
    malformed: list[str] = []
    for key, value in config.items():
        masked, had_secret = _mask_secure(value, str(key), malformed)
        values[str(key)] = masked
        if had_secret:
            secret_keys.add(str(key))
    if malformed:
        raise SpecError(
            [
                Problem(
                    shown,
                    where,
                    SECRET_PLACEHOLDER,
                    "a Pulumi secret is exactly `{secure: <ciphertext>}` as "
                    "`pulumi config set --secret` writes it (value not shown)",
                )
                for where in malformed
            ]
        )
    return RawConfig(values, frozenset(secret_keys), shown)


def _kind(value: Any) -> str:
    """What a value is, without its content (for places that may hold a secret)."""
    return f"(a {type(value).__name__})" if value is not None else "(empty)"


def _mask_secure(value: Any, where: str, malformed: list[str]) -> tuple[Any, bool]:
    if isinstance(value, dict):
        if "secure" in value:
            # Any mapping with `secure` holds ciphertext; never echo it, even when malformed.
            if set(value) != {"secure"} or not isinstance(value["secure"], str) or not value["secure"]:
                malformed.append(where)
            return SECRET_PLACEHOLDER, True
        found = False
        out = {}
        for k, v in value.items():
            out[k], f = _mask_secure(v, f"{where}.{k}", malformed)
            found = found or f
        return out, found
    if isinstance(value, list):
        items = [_mask_secure(v, f"{where}.{i}", malformed) for i, v in enumerate(value)]
        return [v for v, _ in items], any(f for _, f in items)
    return value, False


def pulumi_config_values(raw: RawConfig) -> tuple[dict[str, str], list[str]]:
    """The same config in the wire form the Pulumi CLI gives a program (objects as JSON)."""
    wire = {k: v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in raw.values.items()}
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
    files = sorted(p for p in directory.glob("*.py") if not p.name.startswith("_") and p.is_file())
    if not files:
        problems.append(
            Problem("services/", "(files)", MISSING, "at least one services/*.py that declares ModelService(...)")
        )
    timeout = timeout_seconds()
    for path in files:
        shown = os.path.relpath(path, root)
        with collecting() as declared:
            problem = run_project_file(path, shown, run_name=f"mlinfra_services_{path.stem}", timeout=timeout)
        if problem is not None:
            problems.append(_signature_problem(problem) or problem)
        for decl in declared:
            decl.file = os.path.relpath(decl.file, root) if os.path.isabs(decl.file) else decl.file
        found.extend(declared)
    return found, problems


def _signature_problem(problem: Problem) -> Problem | None:
    """A TypeError from calling ModelService(...) wrongly: name the fields it accepts."""
    if problem.value != "TypeError" or "ModelService" not in problem.allowed:
        return None
    return Problem(
        problem.file,
        "ModelService(...)",
        MISSING,
        f"{problem.allowed.split(': ', 1)[-1]}; allowed fields: {', '.join(sorted(ServiceSpec.model_fields))}",
    )


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
            problems.append(
                Problem(where, "name", decl.name, f"service names must be unique; also declared at {seen[decl.name]}")
            )
            continue
        seen[decl.name] = where
        overrides = settings.services.get(decl.name, {}) if settings else {}
        spec, spec_problems = _service(decl, overrides, raw.file)
        problems += spec_problems
        if spec is not None:
            problems += _baked_file_problems(root, spec, overrides, where, raw.file)
            if settings is not None and spec.rollout is None:
                spec = spec.model_copy(update={"rollout": effective_rollout(None, settings.tier, settings.platform)})
            services.append(spec)
    if settings is not None:
        declared = ", ".join(sorted(seen)) or "none"
        for key, what in (("services", "override"), ("releases", "pinned release")):
            for name in sorted(set(getattr(settings, key)) - set(seen)):
                problems.append(
                    Problem(
                        raw.file,
                        f"{NAMESPACE}:{key}.{name}",
                        name,
                        f"{what} of an unknown service; declared services: {declared}",
                    )
                )
        problems += _capacity_problems(settings, services, declarations, raw.file)
        problems += alerting_problems(
            settings.alerting, settings.platform, services, set(settings.secrets) | set(settings.secret_arns), raw.file
        )
    if problems or settings is None:
        raise SpecError(_without_secrets(problems, raw))
    return Deployment(
        project, stack, settings, tuple(sorted(services, key=lambda s: s.name)), raw.file, root, secret_values
    )


# Namespaces other tools read from the same stack file; any other one is left alone unless it
# looks like a misspelt `mlinfra` or sets an mlinfra key.
_OTHER_NAMESPACES = {"aws", "kubernetes", "docker", "pulumi", "random", "tls", "command"}


def _namespace_problem(raw: RawConfig, key: str) -> Problem | None:
    namespace, colon, name = key.partition(":")
    shown = excerpt(key, 60)
    if not colon:
        return Problem(
            raw.file,
            shown,
            MISSING,
            f"config keys need a namespace (Pulumi reads `{shown}` as `<project>:{shown}`, "
            f"which mlinfra never reads); allowed: {NAMESPACE}:<key> or aws:region",
        )
    if namespace == NAMESPACE or namespace in _OTHER_NAMESPACES:
        return None
    close = difflib.SequenceMatcher(None, namespace.lower(), NAMESPACE).ratio() >= 0.7
    if close or name in _STACK_KEYS:
        return Problem(
            raw.file,
            shown,
            MISSING,
            f"unknown namespace {excerpt(namespace, 30)!r}: did you mean {NAMESPACE}:{excerpt(name, 30)}?",
        )
    return None


def _secret_problems(raw: RawConfig, value: Any) -> list[Problem]:
    """`mlinfra:secrets` must be a mapping of name -> Pulumi secret; never echo a value."""
    key = f"{NAMESPACE}:secrets"
    if not isinstance(value, dict):
        return [
            Problem(
                raw.file,
                key,
                _kind(value),
                "a mapping of secret name -> value set with `pulumi config set --secret "
                f"--path '{key}.<name>'` (value not shown)",
            )
        ]
    problems = []
    # Offline, a `secure:` value reads as the mask; a real engine hands over decrypted values
    # but marks the whole key secret. Either way a value that was never encrypted is refused.
    offline_masked = any(v == SECRET_PLACEHOLDER for v in value.values())
    for name, item in sorted(value.items(), key=lambda kv: str(kv[0])):
        plaintext = key not in raw.secret_keys or (offline_masked and item != SECRET_PLACEHOLDER)
        if plaintext or not isinstance(item, str):
            problems.append(
                Problem(
                    raw.file,
                    f"{key}.{excerpt(name, 40)}",
                    _kind(item),
                    "a Pulumi secret (`pulumi config set --secret --path "
                    f"'{key}.<name>'`), not a plaintext value (value not shown)",
                )
            )
    return problems


def _secret_texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [t for v in value.values() for t in _secret_texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _secret_texts(v)]
    text = str(value)
    return [] if text == SECRET_PLACEHOLDER or len(text) < 4 else [text]


def _without_secrets(problems: list[Problem], raw: RawConfig) -> list[Problem]:
    """Under a real engine secret config arrives decrypted: no problem line may show any of it."""
    texts = [t for key in raw.secret_keys for t in _secret_texts(raw.values.get(key))]
    if not texts:
        return problems
    clean = []
    for problem in problems:
        line = problem.render()
        if any(t[:8] in line for t in texts):
            problem = Problem(
                problem.file,
                problem.field,
                SECRET_PLACEHOLDER,
                "invalid value (details not shown: they would print a secret value)",
            )
        clean.append(problem)
    return clean


def _settings(raw: RawConfig) -> tuple[StackSettings | None, dict[str, str], list[Problem]]:
    problems: list[Problem] = []
    data: dict[str, Any] = {}
    for key, value in sorted(raw.values.items()):
        namespace, _, name = key.partition(":")
        if namespace != NAMESPACE:
            problem = _namespace_problem(raw, key)
            if problem is not None:
                problems.append(problem)
            continue
        if name not in _STACK_KEYS:
            problems.append(
                Problem(
                    raw.file,
                    excerpt(key, 60),
                    _kind(value) if key in raw.secret_keys else value,
                    f"unknown {NAMESPACE}: key; allowed keys: "
                    f"{', '.join(f'{NAMESPACE}:{k}' for k in sorted(_STACK_KEYS))}",
                )
            )
            continue
        data[name] = value
    secret_values: dict[str, str] = {}
    if "secrets" in data:
        secret_problems = _secret_problems(raw, data["secrets"])
        problems += secret_problems
        if secret_problems:
            data.pop("secrets")
        else:
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
        for err in exc.errors():
            problem = _problem(raw.file, err, StackSettings, prefix=NAMESPACE)
            top = str(err["loc"][0]) if err["loc"] else ""
            source = "aws:region" if top == "region" else f"{NAMESPACE}:{to_camel(top)}"
            if source in raw.secret_keys:
                problem = Problem(problem.file, problem.field, SECRET_PLACEHOLDER, problem.allowed)
            problems.append(problem)
        return None, {}, problems
    if settings.foreign_zones():
        problems.append(
            Problem(
                raw.file,
                f"{NAMESPACE}:vpc.availabilityZones",
                [excerpt(z, 30) for z in settings.foreign_zones()][:3],
                f"are not zones of {settings.region}; allowed: {settings.region}a, "
                f"{settings.region}b, ... (2 or 3 of them)",
            )
        )
        return None, {}, problems
    return settings, secret_values, problems


def _baked_file_problems(
    root: Path, spec: ServiceSpec, overrides: dict[str, Any], where: str, stack_file_name: str
) -> list[Problem]:
    """A baked local model must be a file under the project when the plan is made."""
    if not spec.bake_model or uri_scheme(spec.model_uri) != "file":
        return []
    raw_path = spec.model_uri[len("file://") :] if spec.model_uri.lower().startswith("file://") else spec.model_uri
    path = Path(raw_path) if os.path.isabs(raw_path) else root / raw_path
    if path.is_file():
        return []
    from_stack = "modelUri" in overrides or "model_uri" in overrides
    file = stack_file_name if from_stack else where
    field_name = (
        f"{NAMESPACE}:services.{spec.name}.modelUri" if from_stack else f"ModelService({spec.name!r}).model_uri"
    )
    what = "is a directory" if path.is_dir() else "does not exist"
    return [
        Problem(
            file,
            field_name,
            excerpt(spec.model_uri),
            f"bake_model=True copies this local file into the image, but it {what}; "
            "allowed: the path of a model file (relative to the project) or an s3:// / https:// URI",
        )
    ]


def _service(
    decl: ModelService, overrides: dict[str, Any], stack_file_name: str
) -> tuple[ServiceSpec | None, list[Problem]]:
    merged = decl.raw()
    overridden: set[str] = set()
    aliases = {to_camel(n): n for n in ServiceSpec.model_fields}
    if "name" in overrides:
        return None, [
            Problem(
                stack_file_name,
                f"{NAMESPACE}:services.{decl.name}.name",
                excerpt(overrides["name"]),
                "a service's name is its identity (resource names, DNS) and cannot be "
                f"overridden per stack; rename it in {decl.file}:{decl.line} instead",
            )
        ]
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
                problems.append(
                    _problem(stack_file_name, err, ServiceSpec, prefix=f"{NAMESPACE}:services.{decl.name}", camel=True)
                )
            else:
                problems.append(_problem(where, err, ServiceSpec, prefix=f"ModelService({decl.name!r})"))
        return None, problems
    problems = []
    for fname, value, allowed in spec.cross_field_problems():
        file = stack_file_name if fname in overridden else where
        prefix = f"{NAMESPACE}:services.{decl.name}." if fname in overridden else f"ModelService({decl.name!r})."
        problems.append(Problem(file, prefix + (to_camel(fname) if fname in overridden else fname), value, allowed))
    return (None if problems else spec), problems


def _capacity_problems(
    settings: StackSettings, services: list[ServiceSpec], declarations: list[ModelService], file: str
) -> list[Problem]:
    problems: list[Problem] = []
    where = {d.name: f"{d.file}:{d.line}" for d in declarations}
    known = set(settings.secrets) | set(settings.secret_arns)
    for spec in services:
        for secret in spec.secrets:
            if secret not in known:
                problems.append(
                    Problem(
                        where[spec.name],
                        f"ModelService({spec.name!r}).secrets",
                        secret,
                        f"not defined in {file}; define it under {NAMESPACE}:secrets "
                        f"or {NAMESPACE}:secretArns (defined: {', '.join(sorted(known)) or 'none'})",
                    )
                )
    problems += RULES[settings.platform].problems(settings, services, where, file)
    return _at_their_source(problems, settings, file)


def _at_their_source(problems: list[Problem], settings: StackSettings, file: str) -> list[Problem]:
    """A platform rule names `ModelService('svc').field`; when the stack overrides that field,
    point at the override in the stack file instead of the services file."""
    moved = []
    for problem in problems:
        quoted, _, rest = problem.field.removeprefix("ModelService(").partition(").")
        service = quoted.strip("'\"")
        overrides = settings.services.get(service, {}) if rest else {}
        names = rest.split("/")
        if overrides and any(n in overrides or to_camel(n) in overrides for n in names):
            field_name = "/".join(to_camel(n) for n in names)
            problem = Problem(file, f"{NAMESPACE}:services.{service}.{field_name}", problem.value, problem.allowed)
        moved.append(problem)
    return moved


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
    "min_replicas": "; allowed: an integer from 0 to 1000",
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
            (f for n, f in getattr(current, "model_fields", {}).items() if to_camel(n) == part), None
        )
        annotation = None if fld is None else fld.annotation
        candidates = [
            a
            for a in (*getattr(annotation, "__args__", ()), annotation)
            if isinstance(a, type) and issubclass(a, BaseModel)
        ]
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
        problem = run_project_file(path, shown, run_name=f"mlinfra_services_{path.stem}", timeout=timeout_seconds())
    if problem is not None:
        raise SpecError([_signature_problem(problem) or problem])
    names = [d.name for d in declared]
    chosen = [d for d in declared if name is None or d.name == name]
    if len(chosen) != 1:
        raise SpecError(
            [
                Problem(
                    shown,
                    "--service",
                    name or MISSING,
                    f"one of the services declared in the file: {', '.join(names) or 'none'}",
                )
            ]
        )
    (decl,) = chosen
    spec, problems = _service(decl, {}, shown)
    problems = [p for p in problems if not p.field.endswith(".bake_model")]  # local files are fine here
    if spec is None and not problems:
        spec = ServiceSpec.model_validate(decl.raw())
    if problems or spec is None:
        raise SpecError(problems)
    return spec
