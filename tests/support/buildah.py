"""A daemonless buildah/podman setup shared by the image test and `bench/image.sh`.

The base is made here: debootstrap of Debian bookworm with python3, imported with
`podman import` (cached in the container storage, so later runs skip it). Builds and
containers use chroot isolation and the vfs driver: no daemon, no overlay mounts.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

BASE = "localhost/mlinfra-test-base:bookworm-python3"
STORE = Path(os.environ.get("MLINFRA_TEST_CONTAINERS", "/var/tmp/mlinfra-test-containers"))
STORAGE = [f"--root={STORE / 'storage'}", f"--runroot={STORE / 'run'}", "--storage-driver=vfs"]


def debian_mirror() -> str:
    """The Debian archive this machine's apt uses (MLINFRA_TEST_DEBIAN_MIRROR overrides it): the
    first `URIs:` of a deb822 source, else the first `deb` line of sources.list, that is not the
    security archive. debootstrap then fetches from wherever apt is allowed to."""
    override = os.environ.get("MLINFRA_TEST_DEBIAN_MIRROR")
    if override:
        return override
    apt = Path("/etc/apt")
    for source in sorted((apt / "sources.list.d").glob("*.sources")):
        for line in source.read_text().splitlines():
            if line.startswith("URIs:"):
                uris = [u for u in line.split()[1:] if "security" not in u]
                if uris:
                    return uris[0]
    listed = apt / "sources.list"
    for line in listed.read_text().splitlines() if listed.is_file() else []:
        words = line.split()
        if len(words) >= 3 and words[0] == "deb" and "security" not in line:
            return next(w for w in words[1:] if "://" in w)
    raise RuntimeError("no Debian mirror in /etc/apt; set MLINFRA_TEST_DEBIAN_MIRROR")


def sh(*cmd: str, timeout: float = 900) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(cmd)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def ensure_base(podman: str, debootstrap: str, workdir: Path) -> None:
    exists = subprocess.run([podman, *STORAGE, "image", "exists", BASE], capture_output=True)
    if exists.returncode == 0:
        return
    rootfs = workdir / "rootfs"
    sh(
        debootstrap,
        "--variant=minbase",
        "--include=python3,python3-venv,ca-certificates",
        "bookworm",
        str(rootfs),
        debian_mirror(),
        timeout=1200,
    )
    # The build's pip must trust what this machine trusts (its network may re-sign TLS).
    (rootfs / "etc/ssl/certs/ca-certificates.crt").write_bytes(Path("/etc/ssl/certs/ca-certificates.crt").read_bytes())
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    sh_in = subprocess.run(
        [
            podman,
            *STORAGE,
            "import",
            "--change",
            'CMD ["/bin/sh"]',
            "--change",
            "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
            "-",
            BASE,
        ],
        stdin=tar.stdout,
        capture_output=True,
        text=True,
        timeout=600,
    )
    tar.wait()
    assert tar.stdout is not None
    tar.stdout.close()
    assert sh_in.returncode == 0, sh_in.stderr


def build(buildah: str, tag: str, dockerfile: Path, timeout: float = 1500) -> None:
    sh(
        buildah,
        *STORAGE,
        "bud",
        "--isolation",
        "chroot",
        "--format",
        "docker",
        "-t",
        tag,
        "-f",
        str(dockerfile),
        str(dockerfile.parent),
        timeout=timeout,
    )


def image_size(podman: str, ref: str) -> int:
    """Uncompressed bytes of all the image's layers (what `podman images` shows as SIZE)."""
    return int(sh(podman, *STORAGE, "image", "inspect", "--format", "{{.Size}}", ref).strip())
