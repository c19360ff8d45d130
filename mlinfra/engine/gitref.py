"""Plan a stack as it was at a git revision, in a temporary worktree (for pull-request diffs).

The plan runs in a separate process inside the worktree, so a repository that carries its own
`mlinfra/` package plans the base revision with the SDK of that revision, and Pulumi's
process-global runtime state never mixes the two plans.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from mlinfra.errors import GitRefError, Problem, SpecError
from mlinfra.spec.loader import stack_file


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)


def resolve(root: Path, ref: str) -> tuple[Path, str]:
    """(repository top level, full commit id) of `ref`, or SpecError naming the ref."""
    top = _git(["rev-parse", "--show-toplevel"], root)
    if top.returncode != 0:
        raise SpecError([Problem(str(root), "--base", ref, "run inside a git repository (git rev-parse failed)")])
    commit = _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root)
    if commit.returncode != 0:
        raise SpecError(
            [
                Problem(
                    str(root),
                    "--base",
                    ref,
                    "an existing commit, branch or tag of this repository (e.g. HEAD, origin/main)",
                )
            ]
        )
    return Path(top.stdout.strip()), commit.stdout.strip()


def plan_at(root: Path, ref: str, stack: str) -> dict[str, Any]:
    """The plan document of `stack` at `ref`; an empty plan if the stack did not exist there yet."""
    root = root.resolve()
    top, commit = resolve(root, ref)
    relative = root.relative_to(top.resolve())
    with tempfile.TemporaryDirectory(prefix="mlinfra-base-") as tmp:
        tree = Path(tmp) / "tree"
        added = _git(["worktree", "add", "--detach", "--quiet", str(tree), commit], top)
        if added.returncode != 0:
            raise GitRefError(f"could not check out {ref} into a temporary worktree: {added.stderr.strip()}")
        try:
            project = tree / relative
            if not stack_file(project, stack).is_file():
                return {"project": None, "stack": stack, "resources": [], "outputs": {}, "cost": None, "policies": None}
            env = {
                **os.environ,
                "PYTHONPATH": os.pathsep.join(filter(None, [str(project), os.environ.get("PYTHONPATH")])),
            }
            proc = subprocess.run(
                [sys.executable, "-m", "mlinfra", "plan", "--stack", stack, "--format", "json", "-C", str(project)],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                message = proc.stderr.strip().replace(str(project) + os.sep, "")
                raise GitRefError(f"planning stack {stack} at {ref} ({commit[:12]}) failed:\n{message}")
            return dict(json.loads(proc.stdout))
        finally:
            _git(["worktree", "remove", "--force", str(tree)], top)
            _git(["worktree", "prune"], top)
