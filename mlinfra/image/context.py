"""Interim build context: a honest minimal Dockerfile; replaced by the serving runtime's."""

from __future__ import annotations

from pathlib import Path


def write_build_context(out_dir: Path, *, service: str, model_uri: str, framework: str,
                        gpu: bool, port: int = 8080, model_sha256: str | None = None,
                        bake_model: bool = False, trusted_pickle: bool = False,
                        base_image: str | None = None) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    dockerfile = out_dir / "Dockerfile"
    dockerfile.write_text(
        f"FROM {base_image or 'python:3.11-slim'}\n"
        f"USER 10001:10001\nEXPOSE {port}\n"
        # Exec form, no shell in the path: the runtime's liveness endpoint (checkov CKV_DOCKER_2).
        f"HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 "
        f'CMD ["python", "-c", "import urllib.request; '
        f"urllib.request.urlopen('http://127.0.0.1:{port}/health', timeout=2)\"]\n"
        f'CMD ["python", "-m", "mlinfra.serving", "--model-uri", "{model_uri}", "--port", "{port}"]\n'
    )
    return dockerfile
