"""Releases in reviewer language: which model and image a plan deploys, and how a change rolls out.

A new model version touches many resources (the image's build tag, the image digest, the
workload's model URI); the diff shows it as one line per service instead:
`fraud-detector: model v12 → v13, canary 10/50/100 over 10 min`.
"""

from __future__ import annotations

import re
from typing import Any

from mlinfra.spec.service import ServiceSpec

IMAGE_TYPE = "docker:index/image:Image"
_VERSION = re.compile(r"^v?\d+(?:[._-]\d+)*$", re.IGNORECASE)


def model_version(uri: str) -> str:
    """`s3://models/fraud/v12/model.skops` -> `v12`: the last path part that is a version, else the file name."""
    path = uri.split("://", 1)[-1].split("?", 1)[0].rstrip("/")
    parts = path.split("/")
    stem = parts[-1].rsplit(".", 1)[0]
    for part in [*reversed(parts[:-1]), stem]:
        if _VERSION.match(part):
            return part if part[:1] in "vV" else f"v{part}"
    return parts[-1] or uri


def rollout_phrase(rollout: Any) -> str:
    """How a new version goes live: the service's `rollout=` (`mlinfra.spec.rollout`) when it has one."""
    if rollout is None or getattr(rollout, "strategy", "rolling") != "canary":
        return "rolling"
    steps = "/".join(str(s) for s in rollout.steps)
    minutes = getattr(rollout, "total_minutes", None)
    return f"canary {steps}" + (f" over {minutes} min" if minutes is not None else "")


def releases(
    resources: list[dict[str, Any]], services: tuple[ServiceSpec, ...], pins: dict[str, str]
) -> dict[str, Any]:
    """The plan document's `releases`: per service the model, the image (pinned or built) and the rollout."""
    tags = {
        r["service"]: str(r["inputs"].get("imageName", "")).rsplit(":", 1)[-1]
        for r in resources
        if r["type"] == IMAGE_TYPE
    }
    return {
        spec.name: {
            "model": model_version(spec.model_uri),
            "modelUri": spec.model_uri,
            "modelSha256": spec.model_sha256 or "",
            "image": {"pinned": pins[spec.name]} if spec.name in pins else {"build": tags.get(spec.name, "")},
            # the `rollout=` field of the spec when it has one; a spec without it rolls
            "rollout": rollout_phrase(getattr(spec, "rollout", None)),
        }
        for spec in services
    }


def _short(digest_ref: str) -> str:
    return digest_ref.rsplit("@", 1)[-1][:19] + "\u2026"


def release_change(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str | None:
    """One phrase for what changed in a service's release, or None when it did not change."""
    if not a or not b:
        return None
    parts = []
    if a["modelUri"] != b["modelUri"] or a["modelSha256"] != b["modelSha256"]:
        if a["model"] != b["model"]:
            parts.append(f"model {a['model']} \u2192 {b['model']}")
        else:
            old, new = (x[:8] + "\u2026" if x else "unverified" for x in (a["modelSha256"], b["modelSha256"]))
            parts.append(f"model {b['model']} (sha256 {old} \u2192 {new})")
    pin_a, pin_b = a["image"].get("pinned"), b["image"].get("pinned")
    if pin_a != pin_b:
        if pin_b:
            parts.append(f"image pinned to {_short(pin_b)}" + (f" (was {_short(pin_a)})" if pin_a else ""))
        else:
            parts.append("image unpinned: deploys its own build")
    elif not pin_b and a["image"].get("build") != b["image"].get("build") and not parts:
        parts.append("new image build (runtime or dependencies changed)")
    if not parts:
        return None
    return ", ".join([*parts, b["rollout"]])


def explained_values(a: dict[str, Any] | None, b: dict[str, Any] | None) -> set[str]:
    """Values whose appearance in a changed property means the release change explains it."""
    out: set[str] = set()
    for side in (a, b):
        if side:
            # the model's prefix too: the runtime's read grant (`arn:aws:s3:::bucket/prefix/*`) follows it
            # (only a real prefix: a bare bucket name would hide unrelated changes that mention it)
            path = side["modelUri"].split("://", 1)[-1]
            prefix = path.rsplit("/", 1)[0] if path.count("/") > 1 else ""
            out |= {v for v in (side["modelUri"], prefix, side["modelSha256"], side["image"].get("pinned")) if v}
    return out


def release_line(name: str, release: dict[str, Any]) -> str:
    """A plan's line for one service: what model and image it deploys and how."""
    sha = f" (sha256 {release['modelSha256'][:8]}…)" if release["modelSha256"] else ""
    pinned = release["image"].get("pinned")
    image = f"image pinned to {_short(pinned)}, not rebuilt" if pinned else "image built from this tree"
    return f"{name}: model {release['model']}{sha}, {image}, {release['rollout']}"
