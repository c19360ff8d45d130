"""Run the project's real `__main__.py` under the recording mocks: no CLI, cloud or network."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from mlinfra.engine.project import check_project
from mlinfra.engine.recorder import (
    SECRET,
    RecordedResource,
    RecordingMocks,
    RecordingMonitor,
    plain,
)
from mlinfra.errors import MISSING, Problem, SpecError, excerpt
from mlinfra.spec.loader import Deployment, load_deployment, pulumi_config_values, read_stack_file
from mlinfra.spec.sandbox import run_project_file


@dataclass(frozen=True)
class OfflineRun:
    project: str
    stack: str
    deployment: Deployment
    resources: list[RecordedResource]
    outputs: dict[str, Any]


def project_name(root: Path) -> str:
    path = root / "Pulumi.yaml"
    try:
        doc = yaml.safe_load(path.read_text())
        name = doc["name"]
    except (OSError, yaml.YAMLError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise SpecError(
            [
                Problem(
                    "Pulumi.yaml",
                    "name",
                    MISSING,
                    f"a readable Pulumi project file with a name ({excerpt(str(exc), 200)})",
                )
            ]
        ) from None
    # Pulumi's own rule for project names.
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", name):
        raise SpecError(
            [
                Problem(
                    "Pulumi.yaml",
                    "name",
                    excerpt(name),
                    "a project name of letters, digits, '_', '.' and '-' (at most 100)",
                )
            ]
        )
    return name


@contextlib.contextmanager
def _cwd(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def run_offline(root: Path, stack: str, progress: Callable[[int], None] | None = None) -> OfflineRun:
    """Validate, then run the program once. Bad input raises SpecError before anything runs.
    `progress` is told the number of resources registered so far."""
    root = root.resolve()
    check_project(root, stack)
    project = project_name(root)
    raw = read_stack_file(root, stack)
    deployment = load_deployment(root, project, stack, raw)
    wire, secret_keys = pulumi_config_values(raw)

    mocks = RecordingMocks(deployment.settings.region)
    monitor = RecordingMonitor(mocks, progress)
    pulumi_settings.reset_options(project=project, stack=stack)
    pulumi.runtime.set_all_config(wire, secret_keys)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    entry = root / "__main__.py"
    if not entry.is_file():
        raise SpecError(
            [
                Problem(
                    "__main__.py",
                    "(file)",
                    MISSING,
                    "the project's Pulumi program, e.g. `from mlinfra.program import run; run()`",
                )
            ]
        )
    stopped: list[Problem] = []
    try:
        with _cwd(root):

            def program() -> None:
                problem = run_project_file(entry, "__main__.py", run_name="__main__")
                if problem is not None:
                    stopped.append(problem)

            _sync_await(run_pulumi_func(program))
            outputs = {} if stopped else _stack_outputs()
    finally:
        pulumi_settings.reset_options()
    if stopped:
        raise SpecError(stopped)
    return OfflineRun(project, stack, deployment, monitor.recorded, outputs)


def _stack_outputs() -> dict[str, Any]:
    root = pulumi_settings.get_root_resource()
    exported: dict[str, Any] = getattr(root, "outputs", {}) or {}
    result: dict[str, Any] = {}
    for name, value in sorted(exported.items()):
        output = pulumi.Output.from_input(value)
        secret = _sync_await(output.is_secret())
        resolved = _sync_await(output.future())
        result[name] = SECRET if secret else plain(resolved)
    return result
