"""Build a generated context for real with buildah and serve from the resulting image
(base and storage: tests/support/buildah.py)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from mlinfra.image import write_build_context
from tests.support.buildah import BASE, STORAGE, build, ensure_base, sh

pytestmark = [pytest.mark.slow, pytest.mark.tools]


def descendants(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                out += [int(child), *descendants(int(child))]
    return out


def server_pid(root: int) -> int | None:
    for pid in descendants(root):
        with contextlib.suppress(OSError):
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if cmd[0].endswith(b"python3") and b"mlinfra.serving" in cmd:
                return pid
    return None


def test_generated_image_builds_and_serves(sklearn_model: Any, tmp_path: Path, helpers: Any) -> None:
    require_tool = helpers.require_tool
    debootstrap = require_tool("debootstrap", "debootstrap")
    podman = require_tool("podman", "podman")
    buildah = require_tool("buildah", "buildah")
    ensure_base(podman, debootstrap, tmp_path)

    model_path, model, x = sklearn_model
    port = helpers.free_port()
    dockerfile = write_build_context(
        tmp_path / "ctx",
        service="fraud",
        model_uri=str(model_path),
        framework="sklearn",
        gpu=False,
        port=port,
        bake_model=True,
        base_image=BASE,
        model_sha256=hashlib.sha256(model_path.read_bytes()).hexdigest(),
    )
    tag = f"localhost/mlinfra-fraud-test:{port}"
    build(buildah, tag, dockerfile)
    container = sh(buildah, *STORAGE, "from", "--name", f"fraud-test-{port}", tag).strip()
    try:
        config = sh(
            buildah,
            *STORAGE,
            "inspect",
            "--format",
            "{{.Docker.Config.User}}|{{.Docker.Config.Cmd}}|{{.Docker.Config.Healthcheck}}",
            container,
        )
        user, cmd, health = config.split("|", 2)
        # The baked HGB model was compiled in the build stage: the final image has no
        # scikit-learn / SciPy / skops, and the server says it serves the compiled form.
        probe = "import importlib.util as u; print([m for m in ('sklearn', 'scipy', 'skops') if u.find_spec(m)])"
        present = sh(buildah, *STORAGE, "run", "--isolation", "chroot", container, "--", "python3", "-c", probe)
        assert present.strip() == "[]"
        assert user == "10001:10001"
        assert cmd == "[python3 -m mlinfra.serving]"
        assert f"127.0.0.1:{port}/health" in health

        log = (tmp_path / "run.log").open("wb")
        run = subprocess.Popen(
            [
                buildah,
                *STORAGE,
                "run",
                "--isolation",
                "chroot",
                container,
                "--",
                "python3",
                "-m",
                "mlinfra.serving",
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                assert run.poll() is None, (tmp_path / "run.log").read_text()
                with contextlib.suppress(requests.ConnectionError, requests.Timeout):
                    if requests.get(url + "/ready", timeout=1).ok:
                        break
                time.sleep(0.2)
            resp = requests.post(url + "/predict", json={"instances": x.tolist()}, timeout=10)
            assert resp.json() == {"predictions": model.predict(x).tolist()}
            assert "serving the compiled model" in (tmp_path / "run.log").read_text()
            # The image's own HEALTHCHECK command, run inside the image, passes.
            health_cmd = ["python3", "-c", health.split("python3 -c ", 1)[1].split("]")[0]]
            sh(buildah, *STORAGE, "run", "--isolation", "chroot", container, "--", *health_cmd)
            # SIGTERM to the server process itself (as the container runtime sends it to
            # PID 1): it drains and exits cleanly.
            pid = server_pid(run.pid)
            assert pid is not None
            os.kill(pid, signal.SIGTERM)
            run.wait(60)
            assert '"msg":"stopped","exit_code":0' in (tmp_path / "run.log").read_text()
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()
            log.close()
    finally:
        subprocess.run([buildah, *STORAGE, "rm", container], capture_output=True)
        subprocess.run([buildah, *STORAGE, "rmi", tag], capture_output=True)
