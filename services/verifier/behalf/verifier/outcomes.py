"""What a decision concludes: its outcome, reason code and result, and the denies it builds."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum

from behalf.verifier.risk import Risk


class Outcome(IntEnum):
    """Mirror of behalf.v1.Outcome (same numbers)."""

    ALLOW = 1
    DENY = 2
    REQUIRE_APPROVAL = 3


class ReasonCode(IntEnum):
    """Mirror of behalf.v1.ReasonCode (same numbers)."""

    ALLOWED = 1
    APPROVAL_CONSUMED = 2
    STALE_POLICY = 3
    AGENT_NOT_FOUND = 4
    AGENT_DISABLED = 5
    ACTION_BLOCKED = 6
    PERMISSION_EXPIRED = 7
    RESOURCE_NOT_ALLOWED = 8
    NO_PERMISSION = 9
    AMOUNT_REQUIRED = 10
    AMOUNT_EXCEEDS_LIMIT = 11
    CURRENCY_MISMATCH = 12
    BUDGET_EXHAUSTED = 13
    APPROVAL_REQUIRED = 14
    APPROVAL_INVALID = 15
    AUDIT_UNAVAILABLE = 16
    REGISTRY_UNAVAILABLE = 17
    PERMISSION_NOT_YET_VALID = 18
    REQUEST_ID_REUSED = 19


@dataclass(frozen=True, slots=True)
class DecisionResult:
    """What `decide` concluded; the API layer adds request id, time and verifier id.

    `budget_claim` is this call's claim on a budget reservation ("" when it holds none), which
    the caller gives back if the decision cannot be audited (see `deny_for_audit_failure`); a
    retry of an allowed request id holds a claim of its own, so giving it back refunds nothing
    the first call spent.
    """

    outcome: Outcome
    reason_code: ReasonCode
    reason: str
    risk: Risk
    policy_revision: int
    permission_id: str = ""
    approval_id: str = ""
    budget_claim: str = ""


def deny_for_audit_failure(result: DecisionResult) -> DecisionResult:
    """Step 11: a decision that could not be durably audited cannot stay an allow.

    Denies and approval requests keep their outcome (they grant nothing); `budget_claim` is
    kept so the caller can give it back.
    """
    if result.outcome is not Outcome.ALLOW:
        return result
    return replace(
        result,
        outcome=Outcome.DENY,
        reason_code=ReasonCode.AUDIT_UNAVAILABLE,
        reason="the decision could not be durably audited, so it cannot be an allow",
    )


def deny(
    code: ReasonCode,
    reason: str,
    revision: int,
    permission_and_risk: tuple[str, Risk] = ("", Risk.LOW),
) -> DecisionResult:
    """A deny, naming the closest permission and its risk when there is one."""
    permission_id, risk = permission_and_risk
    return DecisionResult(Outcome.DENY, code, reason, risk, revision, permission_id=permission_id)


def stale(revision: int, reason: str) -> DecisionResult:
    """STALE_POLICY: the verifier cannot vouch for its policy being current enough."""
    return deny(ReasonCode.STALE_POLICY, reason, revision)


def request_id_reused(revision: int, pid: str, risk: Risk) -> DecisionResult:
    """REQUEST_ID_REUSED: the registry knows this request id for another request."""
    return deny(
        ReasonCode.REQUEST_ID_REUSED,
        "the request id was already used for a different request; a request id names one request",
        revision,
        (pid, risk),
    )


def registry_unavailable(step: str, revision: int, pid: str, risk: Risk) -> DecisionResult:
    """REGISTRY_UNAVAILABLE: a stateful `step` got no answer, so nothing may be allowed."""
    return deny(
        ReasonCode.REGISTRY_UNAVAILABLE,
        f"the registry could not be reached to {step}",
        revision,
        (pid, risk),
    )
