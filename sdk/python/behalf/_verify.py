"""Verify on the wire: build the request (exact amounts, a request id always set) and turn the
reply into a `Decision` or the exception that fails closed; or, for `check()`, into the
test-mode `Decision` whatever its outcome."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Mapping

from behalf._exceptions import (
    ActionDenied,
    ApprovalRequired,
    InvalidRequest,
    TestModeDecision,
    VerificationUnavailable,
)
from behalf._models import Approval, Decision
from behalf._money import AmountLike, Money, normalize_currency, to_minor_units
from behalf.v1 import common_pb2, verifier_pb2

__all__ = [
    "ACTION_PATTERN",
    "MAX_ACTION_LENGTH",
    "allowed_or_raise",
    "build_verify_request",
    "check_decision",
    "decision_or_raise",
    "is_action",
    "new_request_id",
]

# The action grammar, the one definition (the services check actions with it too, through
# behalf.common.actions): lower_snake words of a-z and 0-9, starting with a letter; no double,
# leading or trailing underscore; 1..64 characters.
ACTION_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
MAX_ACTION_LENGTH = 64


def is_action(value: str) -> bool:
    """Tell whether `value` is an action name: lower_snake, 1..64 characters, nothing else."""
    return len(value) <= MAX_ACTION_LENGTH and ACTION_PATTERN.fullmatch(value) is not None


def new_request_id() -> str:
    """A fresh request id: one request, one id, never derived from what is asked."""
    return f"req_{uuid.uuid4().hex}"


def build_verify_request(
    agent_id: str,
    action: str,
    *,
    resource: str = "",
    amount: AmountLike | None = None,
    currency: str | None = None,
    context: Mapping[str, str] | None = None,
    min_revision: int = 0,
    approval_id: str = "",
    request_id: str | None = None,
    test_mode: bool = False,
) -> verifier_pb2.VerifyRequest:
    """The wire request, validated as far as the client can; a request id is always set."""
    if not isinstance(agent_id, str) or not agent_id:
        raise InvalidRequest("agent_id is required", field="agent_id")
    if not isinstance(action, str) or not action:
        raise InvalidRequest("action is required", field="action")
    if not is_action(action):
        raise InvalidRequest("action must be lower_snake_case, 1 to 64 characters", field="action")
    request = verifier_pb2.VerifyRequest(
        agent_id=agent_id,
        action=action,
        resource=resource or "",
        min_revision=int(min_revision or 0),
        approval_id=approval_id or "",
        request_id=request_id or new_request_id(),
        test_mode=test_mode,
    )
    if amount is not None:
        if isinstance(amount, Money) and currency is None:
            currency = amount.currency
        if currency is None:
            raise InvalidRequest("currency is required with an amount", field="currency")
        code = normalize_currency(currency)
        request.amount.CopyFrom(
            common_pb2.Money(amount_minor=to_minor_units(amount, code), currency=code)
        )
    elif currency is not None:
        raise InvalidRequest("currency given without an amount", field="amount")
    if context:
        request.context.update({str(k): str(v) for k, v in context.items()})
    return request


def decision_or_raise(
    reply: verifier_pb2.VerifyResponse,
    request_id: str,
    *,
    waiter: Callable[[str, float, float], Awaitable[Approval]] | None = None,
) -> Decision:
    """The decision if it is an explicit ALLOW for request `request_id` and not a test; the
    matching exception otherwise (`TestModeDecision` for any test-mode decision, even an
    ALLOW)."""
    return allowed_or_raise(_decision_for(reply, request_id), waiter=waiter)


def allowed_or_raise(
    decision: Decision,
    *,
    waiter: Callable[[str, float, float], Awaitable[Approval]] | None = None,
) -> Decision:
    """The decision if it is an explicit ALLOW and not a test; the matching exception
    otherwise. The one rule of what authorizes, for a reply and for a guard's verifier."""
    if decision.test_mode:
        raise TestModeDecision(decision)
    if decision.outcome == "ALLOW":
        return decision
    if decision.outcome == "REQUIRE_APPROVAL":
        raise ApprovalRequired(decision, waiter=waiter)
    raise ActionDenied(decision)  # DENY, and UNSPECIFIED or unknown outcomes too


def check_decision(reply: verifier_pb2.VerifyResponse, request_id: str) -> Decision:
    """The decision of a test-mode Verify, whatever its outcome. A reply not marked as a test
    means the verifier did not honour test mode: no trustworthy answer to a `check()`."""
    decision = _decision_for(reply, request_id)
    if not decision.test_mode:
        raise VerificationUnavailable("the verifier did not answer in test mode")
    return decision


def _decision_for(reply: verifier_pb2.VerifyResponse, request_id: str) -> Decision:
    """The reply's decision, if it answers request `request_id`: a misrouted, cached or
    replayed answer to another request authorizes nothing."""
    if not reply.HasField("decision"):
        raise VerificationUnavailable("Verify answered without a decision")
    if reply.decision.request_id != request_id:
        raise VerificationUnavailable("Verify answered another request than the one asked")
    return Decision.from_proto(reply.decision)
