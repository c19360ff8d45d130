"""`mlinfra:releases`: the image a service is pinned to, written by `mlinfra rollback` / `promote`.

A pin is the full ECR reference by digest (`<account>.dkr.ecr.<region>.amazonaws.com/<repo>@sha256:<hex>`),
not a bare digest: a promoted image lives in the repository of the stack it passed, and the
stack that runs it must know where to pull it from.
"""

from __future__ import annotations

import re

from pydantic import field_validator

from mlinfra.spec.base import StrictModel

ECR_IMAGE_REF = re.compile(
    r"^(?P<registry>\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?)/"
    r"(?P<repository>[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"@(?P<digest>sha256:[0-9a-f]{64})$"
)
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class ReleasePin(StrictModel):
    """One service's pinned image: the next `pulumi up` deploys it instead of a new build."""

    image: str
    """`<account>.dkr.ecr.<region>.amazonaws.com/<repository>@sha256:<64 hex>`."""

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        if not ECR_IMAGE_REF.match(v):
            raise ValueError(
                "must be an ECR image pinned by digest: "
                "<account>.dkr.ecr.<region>.amazonaws.com/<repository>@sha256:<64 hex digits>"
            )
        return v

    @property
    def repository(self) -> str:
        match = ECR_IMAGE_REF.match(self.image)
        assert match is not None  # validated above
        return match["repository"]

    @property
    def digest(self) -> str:
        return self.image.rsplit("@", 1)[1]
