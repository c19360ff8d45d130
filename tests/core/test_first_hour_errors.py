"""The first hour's mistakes: each one line naming what is missing and the fix, exit 2, no traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "services", root / "services", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "stacks", root / "stacks")
    return root


def _plan(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlinfra", "plan", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )


def _one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize(
    ("breakage", "stack", "needles"),
    [
        ("outside", "dev", ("no mlinfra project here (no Pulumi.yaml)", "-C PROJECT_DIR", "mlinfra init DIR")),
        ("no-pulumi-yaml", "dev", ("Pulumi.yaml is missing", "mlinfra init DIR")),
        ("no-stacks", "dev", ("stacks/ is missing", "stacks/Pulumi.<stack>.yaml")),
        ("empty-stacks", "dev", ("stacks/ has no stack files", "create stacks/Pulumi.dev.yaml")),
        (
            "unknown-stack",
            "qa",
            ("stacks/Pulumi.qa.yaml does not exist", "available stacks: dev, prod, staging", "`--stack dev`"),
        ),
        ("no-services", "dev", ("services/ is missing", "services/<name>.py", "ModelService(...)")),
        ("empty-services", "dev", ("services/ has no .py file", "services/<name>.py")),
    ],
)
def test_first_hour_mistake(tmp_path: Path, breakage: str, stack: str, needles: tuple[str, ...]) -> None:
    root = _project(tmp_path)
    if breakage == "outside":
        root = tmp_path / "elsewhere"
        root.mkdir()
    elif breakage == "no-pulumi-yaml":
        (root / "Pulumi.yaml").unlink()
    elif breakage == "no-stacks":
        shutil.rmtree(root / "stacks")
    elif breakage == "empty-stacks":
        for path in (root / "stacks").iterdir():
            path.unlink()
    elif breakage == "no-services":
        shutil.rmtree(root / "services")
    elif breakage == "empty-services":
        for path in (root / "services").iterdir():
            path.unlink()
        (root / "services" / "README.md").write_text("models go here\n")
    _one_line_error(_plan(root, "--stack", stack), *needles)


def test_project_dir_option_names_the_directory(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = _plan(tmp_path, "-C", str(elsewhere), "--stack", "dev")
    _one_line_error(proc, "no mlinfra project in elsewhere")
