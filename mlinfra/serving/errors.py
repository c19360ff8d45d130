"""One error root for the runtime: every HTTP-visible failure carries its status code."""

from __future__ import annotations


class HttpError(Exception):
    """Raised anywhere in request handling; turned into a JSON error response in one place."""

    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


class ModelLoadError(Exception):
    """The model could not be fetched, verified or deserialised; the server stays not-ready."""
