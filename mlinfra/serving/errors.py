"""The runtime's error vocabulary. Domain code raises what went wrong; `app.error_response`
is the only place one becomes an HTTP status.

    ServingError
      ├─ BadRequest (400)          the body is not JSON, or asks for two things at once
      ├─ Unauthorized (401)        missing or wrong API key
      ├─ NotFound (404)  ├─ MethodNotAllowed (405)
      ├─ UnsupportedMedia (415)    an encoding the runtime does not speak (binary tensors)
      ├─ InvalidInput (422)        well-formed JSON that is not valid model input
      ├─ Overloaded (429)          queue full; retry shortly
      ├─ ModelFailed (500)         a bug in the model call: an exception, a wrong row count
      ├─ NotReady (503)            loading or draining; retry shortly
      └─ DeadlineExceeded (504)    the model did not answer within the request timeout
    ModelLoadError                 the model could not be fetched, verified or loaded (exit 1)

The HTTP framing errors (malformed request 400, 408, 413, 414, 431) are answered by the
protocol layer before a request reaches a route, and so are not part of this tree.
"""

from __future__ import annotations

from typing import ClassVar


class ServingError(Exception):
    status: ClassVar[int] = 500
    retry_after: ClassVar[int | None] = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ServingError):
    status = 400


class Unauthorized(ServingError):
    status = 401


class NotFound(ServingError):
    status = 404


class MethodNotAllowed(ServingError):
    status = 405

    def __init__(self, message: str, allow: tuple[str, ...]) -> None:
        super().__init__(message)
        self.allow = allow


class UnsupportedMedia(ServingError):
    status = 415


class InvalidInput(ServingError):
    status = 422


class Overloaded(ServingError):
    status = 429
    retry_after = 1


class ModelFailed(ServingError):
    status = 500


class NotReady(ServingError):
    status = 503
    retry_after = 1


class DeadlineExceeded(ServingError):
    status = 504


class ModelLoadError(Exception):
    """The model could not be fetched, verified or deserialised; the server stays not-ready."""
