"""The built wheel as a new team gets it: a fresh virtualenv (no system site-packages), the
wheel and its dependencies from the machine's configured package sources, then
`mlinfra init` + `mlinfra plan --stack dev` offline from that installation alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

from mlinfra.image.requirements import RUNTIME_REQUIREMENTS

ROOT = Path(__file__).resolve().parents[2]
# What a build of a working tree must not pick up: local environments and build leftovers.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv*",
    ".tools",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".mlinfra",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "out",
    "bench",
)
# Runtime-only dependencies: in the image and `mlinfra[serving]`, never in the SDK install.
SERVING_ONLY = ("httptools", "uvloop", "orjson", "numpy", "prometheus_client", "skops", "sklearn")


def _data_files() -> set[str]:
    """Every file under mlinfra/ that is not Python source: all must ship in the wheel."""
    return {
        str(p.relative_to(ROOT))
        for p in (ROOT / "mlinfra").rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy: setuptools' build/ directory in the tree could carry stale files.
    src = tmp_path_factory.mktemp("src") / "mlinfra"
    shutil.copytree(ROOT, src, ignore=_NOT_SOURCE)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(src),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    (built,) = out.glob("mlinfra-*.whl")
    return built


def test_wheel_carries_every_data_file_and_the_cli(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    data = _data_files()
    assert "mlinfra/engine/prices/aws.json" in data
    assert any(d.startswith("mlinfra/scaffold/templates/") for d in data)
    assert data <= names, f"missing from the wheel: {sorted(data - names)}"
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "mlinfra = mlinfra.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_serving_extra_is_the_image_runtime() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {d.split(">")[0].split("=")[0].split("<")[0].lower() for d in project["dependencies"]}
    extra = set(project["optional-dependencies"]["serving"])
    # The image's runtime pins, less what the SDK already depends on (pydantic, pydantic-settings).
    assert extra == {r for r in RUNTIME_REQUIREMENTS if r.split("==")[0].lower() not in base}
    assert not {m.replace("_", "-") for m in SERVING_ONLY} & base


def test_make_demo_installs_only_the_sdk(tmp_path: Path) -> None:
    venv_dir = tmp_path / "venv"
    proc = subprocess.run(
        ["make", "-n", "demo", f"VENV={venv_dir}"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    installs = [line for line in proc.stdout.splitlines() if " install " in line and "--upgrade pip" not in line]
    assert installs == [f"{venv_dir}/bin/pip install --quiet -r requirements.txt"]
    wanted = (ROOT / "requirements.txt").read_text()
    assert "-r " not in wanted, "requirements.txt must not pull in the test set"
    assert not {"torch", "pytest", "scikit-learn", "moto"} & {
        line.split("=")[0].split("[")[0].strip() for line in wanted.splitlines()
    }


@pytest.mark.slow
def test_init_then_plan_from_the_wheel_in_a_fresh_venv(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    bin_dir = env_dir / "bin"
    pip = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"

    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)

    # Imported from the venv, not from this checkout.
    where = run("python", "-c", "import mlinfra, sys; print(mlinfra.__file__); print(sys.prefix)", cwd=tmp_path)
    assert where.stdout.startswith(str(env_dir)), where.stdout + where.stderr
    absent = run(
        "python",
        "-c",
        f"import importlib.util as u; print([m for m in {SERVING_ONLY!r} if u.find_spec(m)])",
        cwd=tmp_path,
    )
    assert absent.stdout.strip() == "[]", "runtime-only dependencies came with the SDK: " + absent.stdout

    version = run("mlinfra", "--version", cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("mlinfra ")
    init = run("mlinfra", "init", "ml-services", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    plan = run("mlinfra", "plan", "--stack", "dev", cwd=tmp_path / "ml-services")
    assert plan.returncode == 0, plan.stderr
    assert "example-model" in plan.stdout
    assert "$" in plan.stdout, "no cost: the price table did not ship in the wheel"
    assert "Traceback" not in plan.stderr
