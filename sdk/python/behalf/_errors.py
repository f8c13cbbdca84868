"""The errors that carry no decision: `BehalfError` and the request, key and transport errors.

The whole tree is drawn in `behalf._exceptions`, which adds the errors that carry a Verify
decision (they need `behalf._models`; these sit below it, so `behalf._money` can raise them).
"""

from __future__ import annotations

__all__ = [
    "ApprovalTimeout",
    "AuthenticationError",
    "BehalfError",
    "Conflict",
    "InvalidRequest",
    "NotFound",
    "PassportError",
    "VerificationUnavailable",
]


class BehalfError(Exception):
    """Base of everything the SDK raises; the message is safe to log."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class ApprovalTimeout(BehalfError, TimeoutError):
    """The approval was still pending when the wait's deadline passed."""

    def __init__(self, approval_id: str, timeout: float) -> None:
        super().__init__(f"approval {approval_id} still pending after {timeout:g}s")
        self.approval_id = approval_id


class VerificationUnavailable(BehalfError):
    """No trustworthy answer (timeout, transport, server error). Treat it as a deny."""


class InvalidRequest(BehalfError, ValueError):
    """The request is malformed; `.field` names the field at fault when known."""

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field


class AuthenticationError(BehalfError):
    """The API key is missing, unknown or revoked, or its role may not make this call."""


class NotFound(BehalfError):
    """No such object in the caller's tenant."""


class Conflict(BehalfError):
    """The object already exists, or is in a state that does not allow the call."""


class PassportError(BehalfError):
    """A passport failed verification: tampered, wrongly signed, malformed or too old."""
