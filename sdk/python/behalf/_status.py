"""gRPC statuses to SDK exceptions: the one place status codes are mapped.

The field at fault in an INVALID_ARGUMENT is data, not text: the services attach a
`google.rpc.BadRequest` to the status (the `grpc-status-details-bin` trailer), and
`bad_request_field` reads it from there. A message is shown, never parsed.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2

from behalf._errors import (
    AuthenticationError,
    BehalfError,
    Conflict,
    InvalidRequest,
    NotFound,
    VerificationUnavailable,
)

__all__ = ["bad_request_field", "map_rpc_error"]

_STATUS_DETAILS_KEY = "grpc-status-details-bin"


def bad_request_field(error: grpc.RpcError) -> str | None:
    """The field of the first google.rpc.BadRequest violation in a failed call's status
    details, or None when the error carries none (or they do not decode)."""
    for key, value in _ask(error, "trailing_metadata") or ():
        if key != _STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        try:
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                bad_request = error_details_pb2.BadRequest()
                if detail.Unpack(bad_request) and bad_request.field_violations:
                    field: str = bad_request.field_violations[0].field
                    return field
        except DecodeError:
            return None
    return None


def map_rpc_error(error: grpc.RpcError, what: str = "call") -> BehalfError:
    """The SDK exception for a failed RPC (sync or aio)."""
    code = _ask(error, "code")
    details = _ask(error, "details")
    details = details if isinstance(details, str) else ""
    name = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
    message = details or f"{what} failed: {name}"
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidRequest(message, field=bad_request_field(error), code=name)
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        return AuthenticationError(message, code=name)
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFound(message, code=name)
    if code in (grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.FAILED_PRECONDITION):
        return Conflict(message, code=name)
    return VerificationUnavailable(f"{what} failed ({name}): {details}".rstrip(": "), code=name)


def _ask(error: grpc.RpcError, method: str) -> Any:
    """`error.<method>()`: a failed call (sync or aio) has code, details and trailing_metadata;
    `grpc.RpcError` itself declares none of them."""
    accessor = getattr(error, method, None)
    return accessor() if callable(accessor) else None
