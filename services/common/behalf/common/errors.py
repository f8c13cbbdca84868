"""The domain error tree, and its one mapping to gRPC status codes.

    BehalfError
    ├── InvalidArgument      (field at fault)  -> INVALID_ARGUMENT
    ├── Unauthenticated                        -> UNAUTHENTICATED
    ├── PermissionDenied                       -> PERMISSION_DENIED
    ├── NotFound                               -> NOT_FOUND
    ├── AlreadyExists                          -> ALREADY_EXISTS
    ├── FailedPrecondition                     -> FAILED_PRECONDITION
    ├── ResourceExhausted                      -> RESOURCE_EXHAUSTED
    └── Unavailable                            -> UNAVAILABLE

Handlers raise these; the error interceptor turns them into statuses. Any other exception is
logged and answered INTERNAL with no detail, so a driver's text never reaches a client.
"""

from __future__ import annotations

import grpc


class BehalfError(Exception):
    """Base of every error a client may see; its message is safe to show."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL


class InvalidArgument(BehalfError):
    """A request field is malformed; `field` names it (dotted path)."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class Unauthenticated(BehalfError):
    """The credential is missing, malformed, unknown or revoked."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(BehalfError):
    """The credential is valid but its role may not do this."""

    code = grpc.StatusCode.PERMISSION_DENIED


class NotFound(BehalfError):
    """No such object in the caller's tenant (another tenant's ids look the same)."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(BehalfError):
    """The object, or an idempotency key used with another body, already exists."""

    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(BehalfError):
    """The object is in a state that does not allow the operation."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhausted(BehalfError):
    """The caller has too many calls in flight; it may retry after a backoff."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(BehalfError):
    """A dependency is unreachable; the call may be retried."""

    code = grpc.StatusCode.UNAVAILABLE
