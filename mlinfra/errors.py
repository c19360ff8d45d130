"""Every error the SDK raises on purpose, under one root.

```
MlinfraError                 exit code 2, one message, no traceback (the CLI's `main` maps it)
 ├─ SpecError                 bad input: every `Problem` (file, field, value, allowed) at once
 ├─ RenderError               `mlinfra render` cannot write or interpret what it recorded
 ├─ LivePricesError           `--live-prices`: the Price List API gave no usable answer
 ├─ GitRefError               `mlinfra diff --base REF`: REF cannot be checked out or planned
 ├─ ReleaseError              `mlinfra rollback` / `promote`: a digest ECR has not recorded
 │   └─ PinWriteError         the release pin cannot be spliced into the stack file as it is
 ├─ BuildContextError         an image build context asked for with impossible arguments
 └─ ComponentError            a component used outside what it supports (e.g. `ModelService`
                              called in a Pulumi program that does not collect it)
```

The runtime inside the image has its own errors (`mlinfra.serving.errors`): it never imports
the SDK.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


class MlinfraError(Exception):
    """Root of every error the SDK raises on purpose. The CLI maps it to exit code 2."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where it is, what it was, and what is allowed."""

    file: str
    field: str
    value: Any
    allowed: str

    def render(self) -> str:
        shown = "(missing)" if self.value is MISSING else _short_repr(self.value)
        return f"{self.file}: {self.field} = {shown}: {excerpt(self.allowed, MAX_MESSAGE)}"


# A value is echoed only as a short excerpt: enough to recognise it, never a whole document.
MAX_VALUE = 80
MAX_MESSAGE = 600


def excerpt(value: object, limit: int = MAX_VALUE) -> str:
    """`str(value)` cut to `limit` characters, saying how long it really was."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def _short_repr(value: object) -> str:
    if isinstance(value, str) and len(value) > MAX_VALUE:
        return f"{value[:MAX_VALUE]!r}... ({len(value)} characters)"
    if isinstance(value, (dict, list, tuple, set)) and len(value) > 20:
        return f"({type(value).__name__} of {len(value)} items)"
    return excerpt(repr(value))


class _Missing:
    def __repr__(self) -> str:
        return "(missing)"


MISSING: Any = _Missing()
"""The value of a `Problem` about a field that was not given at all."""


class SpecError(MlinfraError):
    """Every problem found in the declarations and stack settings, reported at once."""

    def __init__(self, problems: Iterable[Problem]):
        # Values may be unhashable (lists, dicts), so de-duplicate on the rendered line.
        unique = {p.render(): p for p in problems}
        self.problems = sorted(unique.values(), key=lambda p: (p.file, p.field, p.allowed))
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the mlinfra input:"
        return "\n".join([head, *(f"  - {p.render()}" for p in self.problems)])


class RenderError(MlinfraError):
    """`mlinfra render` could not write its output or interpret a recorded resource."""


class LivePricesError(MlinfraError):
    """The Price List API could not be asked or gave no usable answer."""


class GitRefError(MlinfraError):
    """A git ref given to `mlinfra diff --base` could not be checked out or planned."""


class ReleaseError(MlinfraError):
    """The release asked for is not one ECR has recorded (or ECR cannot say)."""


class PinWriteError(ReleaseError):
    """The stack file has a shape the pin cannot be spliced into without rewriting it."""


class BuildContextError(MlinfraError, ValueError):
    """An image build context was asked for with arguments no image could be built from.

    Also a `ValueError`, which is what `write_build_context` raised before it had its own type.
    """


class ComponentError(MlinfraError):
    """A component was used in a way it does not support; the message says how to use it."""
