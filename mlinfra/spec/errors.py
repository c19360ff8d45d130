"""One error root for the SDK, and the problem list that bad input turns into."""

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
        shown = "(missing)" if self.value is _MISSING else _short_repr(self.value)
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


_MISSING: Any = _Missing()
MISSING = _MISSING


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
