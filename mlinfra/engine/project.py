"""Is this directory an mlinfra project? The first-hour mistakes, each as one line with its fix.

Checked before anything is loaded, so a wrong directory or a missing stack file reads as what
it is rather than as a list of validation problems.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlinfra.spec.errors import MlinfraError

INIT_HINT = "`mlinfra init DIR` writes a complete example"


class ProjectError(MlinfraError):
    """The directory is not (yet) a project mlinfra can plan."""


def stacks_in(root: Path) -> list[str]:
    return sorted(
        p.name[len("Pulumi.") : -len(".yaml")] for p in (root / "stacks").glob("Pulumi.*.yaml") if p.is_file()
    )


def check_project(root: Path, stack: str) -> None:
    """Raise ProjectError naming the first missing piece of a project and how to add it."""
    shown = os.path.relpath(root) if root.is_relative_to(Path.cwd()) else str(root)
    where = " here" if shown == "." else f" in {shown}"
    if not (root / "Pulumi.yaml").is_file():
        if (root / "stacks").is_dir() or (root / "services").is_dir():
            raise ProjectError(
                f"Pulumi.yaml is missing{where}: every mlinfra project has one at its root ({INIT_HINT})"
            )
        raise ProjectError(
            f"no mlinfra project{where} (no Pulumi.yaml): run this in a project's root or "
            f"pass -C PROJECT_DIR; to start a project, `mlinfra init DIR`"
        )
    if not (root / "stacks").is_dir():
        raise ProjectError(f"stacks/ is missing{where}: each stack is a file stacks/Pulumi.<stack>.yaml ({INIT_HINT})")
    # A stack path that exists but is no file is the stack loader's to report (field and value).
    if not (root / "stacks" / f"Pulumi.{stack}.yaml").exists():
        available = stacks_in(root)
        if not available:
            raise ProjectError(f"stacks/ has no stack files{where}: create stacks/Pulumi.{stack}.yaml ({INIT_HINT})")
        raise ProjectError(
            f"stacks/Pulumi.{stack}.yaml does not exist; available stacks: {', '.join(available)} "
            f"(`--stack {available[0]}`)"
        )
    services = root / "services"
    if not services.is_dir() or not any(p.suffix == ".py" and not p.name.startswith("_") for p in services.iterdir()):
        state = "is missing" if not services.is_dir() else "has no .py file"
        raise ProjectError(
            f"services/ {state}{where}: declare each model in services/<name>.py with ModelService(...) ({INIT_HINT})"
        )
