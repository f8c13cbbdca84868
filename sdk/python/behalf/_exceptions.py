"""What the SDK raises. Anything but an explicit allow is an exception: the SDK fails closed.

    BehalfError
    ├── ActionDenied             Verify answered DENY (or an unknown outcome); `.decision`
    │   └── TestModeDecision     Verify answered with a test-mode decision (even an ALLOW):
    │                            it authorizes nothing; `check()` is the call for test runs
    ├── ApprovalRequired         Verify answered REQUIRE_APPROVAL; `.approval_id`, `.decision`,
    │                            `await .wait_for_approval()` / `.wait_for_approval_sync()`
    ├── ApprovalRejected         a waited-for approval was denied, expired or already used
    ├── ApprovalTimeout          (also TimeoutError) the approval was still pending at the deadline
    ├── VerificationUnavailable  no trustworthy answer: timeout, transport error, UNAVAILABLE,
    │                            DEADLINE_EXCEEDED, INTERNAL, a malformed reply
    ├── InvalidRequest           (also ValueError) INVALID_ARGUMENT, or caught before sending;
    │                            `.field` names the field at fault (from the status's
    │                            google.rpc.BadRequest details, never from its message)
    ├── AuthenticationError      UNAUTHENTICATED (bad, missing or revoked key) or
    │                            PERMISSION_DENIED (the key's role may not do this)
    ├── NotFound                 NOT_FOUND (another tenant's ids look exactly the same)
    ├── Conflict                 ALREADY_EXISTS, FAILED_PRECONDITION (wrong state for the call)
    └── PassportError            a passport's signature, format, key or age does not check out

gRPC errors are translated once, in `behalf._status`, with `raise ... from exc`; the original
`grpc.RpcError` stays reachable as `__cause__`. `.code` holds the gRPC status name when there
was one.

The errors that carry no decision live in `behalf._errors`, below `behalf._models` (so
`behalf._money` can raise them without a cycle), and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from behalf._errors import (
    ApprovalTimeout,
    AuthenticationError,
    BehalfError,
    Conflict,
    InvalidRequest,
    NotFound,
    PassportError,
    VerificationUnavailable,
)
from behalf._models import Approval, Decision

__all__ = [
    "ActionDenied",
    "ApprovalRejected",
    "ApprovalRequired",
    "ApprovalTimeout",
    "AuthenticationError",
    "BehalfError",
    "Conflict",
    "InvalidRequest",
    "NotFound",
    "PassportError",
    "TestModeDecision",
    "VerificationUnavailable",
]

# Reason codes of denials that say nothing about the policy: trying again later may allow.
_TRANSIENT_REASONS = frozenset({"STALE_POLICY", "AUDIT_UNAVAILABLE", "REGISTRY_UNAVAILABLE"})


class _DecisionError(BehalfError):
    """A Verify that answered, but not with an allow."""

    def __init__(self, decision: Decision, message: str | None = None) -> None:
        super().__init__(message or f"{decision.reason_code}: {decision.reason}".rstrip(": "))
        self.decision = decision

    @property
    def reason_code(self) -> str:
        """Stable machine reason, for example "AMOUNT_EXCEEDS_LIMIT"."""
        return self.decision.reason_code

    @property
    def reason(self) -> str:
        """Human reason."""
        return self.decision.reason

    @property
    def risk(self) -> str:
        """ "LOW", "MEDIUM", "HIGH" or "UNSPECIFIED"."""
        return self.decision.risk

    @property
    def request_id(self) -> str:
        """The Verify request id; look the decision up in the audit trail with it."""
        return self.decision.request_id

    @property
    def policy_revision(self) -> int:
        """The policy revision the decision was made at."""
        return self.decision.policy_revision


class ActionDenied(_DecisionError):
    """The agent must not act. `.decision` says why."""

    @property
    def transient(self) -> bool:
        """True when the deny says nothing about the policy (stale policy, audit or registry
        unavailable), so the same request may be allowed later."""
        return self.decision.reason_code in _TRANSIENT_REASONS


class TestModeDecision(ActionDenied):
    """Verify got a test-mode decision, whatever its outcome: it authorizes nothing, so the
    agent must not act. A subclass of `ActionDenied`, so `except ActionDenied` still fails
    closed. Ask "would this be allowed?" with `check()`, which returns the decision instead."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, decision: Decision) -> None:
        super().__init__(
            decision,
            f"test-mode decision ({decision.outcome} {decision.reason_code}) authorizes "
            "nothing; use check() for test runs",
        )

    @property
    def transient(self) -> bool:
        """Never: asking again gets another test-mode decision."""
        return False


class ApprovalRequired(_DecisionError):
    """A human must approve this exact request first; `.approval_id` names the approval.

    Wait for it with `await exc.wait_for_approval(timeout=...)` (or
    `exc.wait_for_approval_sync(...)` from the sync client), then verify again passing
    `approval_id=exc.approval_id`.
    """

    def __init__(
        self,
        decision: Decision,
        *,
        waiter: Callable[[str, float, float], Awaitable[Approval]] | None = None,
        sync_waiter: Callable[[str, float, float], Approval] | None = None,
    ) -> None:
        super().__init__(decision)
        self._waiter = waiter
        self._sync_waiter = sync_waiter

    @property
    def approval_id(self) -> str:
        """The pending approval's id."""
        return self.decision.approval_id

    async def wait_for_approval(
        self,
        timeout: float = 300.0,  # noqa: ASYNC109
        *,
        poll_interval: float = 1.0,
    ) -> Approval:
        """Poll the approval until it is approved (returned), rejected (`ApprovalRejected`) or
        the timeout passes (`ApprovalTimeout`)."""
        if self._waiter is None:
            raise BehalfError("this ApprovalRequired was not raised by a client that can wait")
        return await self._waiter(self.approval_id, timeout, poll_interval)

    def wait_for_approval_sync(
        self, timeout: float = 300.0, *, poll_interval: float = 1.0
    ) -> Approval:
        """Blocking `wait_for_approval`, for errors raised by the sync `Behalf` client."""
        if self._sync_waiter is None:
            raise BehalfError("use `await wait_for_approval()`: raised by the async client")
        return self._sync_waiter(self.approval_id, timeout, poll_interval)


class ApprovalRejected(BehalfError):
    """The approval was denied, expired or already used; `.approval` is its last state."""

    def __init__(self, approval: Approval) -> None:
        super().__init__(f"approval {approval.approval_id} is {approval.state}")
        self.approval = approval
