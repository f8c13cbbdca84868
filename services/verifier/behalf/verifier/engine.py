"""The Verify decision procedure (ARCHITECTURE §4, steps 3-10): pure, its few I/O steps injected.

`decide` reads top to bottom in the order of §4. Its only I/O is through `StatefulSteps`
(budget reservation and approvals at the registry), which the caller provides.

Choosing among several candidate permissions, the first wins under this order:
  1. one whose amount rules pass (amount present if limited, same currency, within the limit),
  2. one that does not require approval,
  3. the most specific resource match: exact name, then `*.suffix` wildcard, then any-resource,
  4. the lowest permission id.
Grants are additive: if any grant allows the request outright, a stricter one does not deny it.
Only blocked actions override, and they override everything.

Order of the rules after a permission is chosen: the pure amount checks, then approval, then
the budget reservation. The budget is reserved only once the request would otherwise be
allowed, so a REQUIRE_APPROVAL or APPROVAL_INVALID never holds budget; the price is that a
consumed approval is spent even when the budget then turns out to be exhausted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Protocol

from behalf.verifier.risk import Risk, assess_risk
from behalf.verifier.snapshot import MatchKind, Money, PermissionEntry, PolicySnapshot

__all__ = [
    "DecisionResult",
    "Freshness",
    "Money",
    "Outcome",
    "ReasonCode",
    "RegistryUnavailable",
    "RequestIdReused",
    "Risk",
    "StatefulSteps",
    "VerifyInput",
    "decide",
    "deny_for_audit_failure",
]


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


class RegistryUnavailable(Exception):
    """A stateful step could not get an answer from the registry."""


class RequestIdReused(Exception):
    """The registry holds this request id for a request with different content."""


@dataclass(frozen=True, slots=True)
class VerifyInput:
    """A validated Verify request: ids well-formed, action non-empty, resource normalized."""

    tenant_id: str
    agent_id: str
    action: str
    resource: str
    amount: Money | None = None
    min_revision: int = 0
    approval_id: str = ""
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class Freshness:
    """When the verifier last heard from the registry (a delta or heartbeat), and how old is ok."""

    last_heard: datetime
    staleness_bound: timedelta


@dataclass(frozen=True, slots=True)
class DecisionResult:
    """What `decide` concluded; the API layer adds request id, time and verifier id.

    `budget_reserved` tells the caller to release the reservation if the decision cannot be
    audited (see `deny_for_audit_failure`).
    """

    outcome: Outcome
    reason_code: ReasonCode
    reason: str
    risk: Risk
    policy_revision: int
    permission_id: str = ""
    approval_id: str = ""
    budget_reserved: bool = False


class StatefulSteps(Protocol):
    """The registry calls a decision may need; each may raise `RegistryUnavailable`, and
    `RequestIdReused` when the request id already names a different request."""

    async def reserve_budget(self, request: VerifyInput, permission_id: str, amount: Money) -> bool:
        """Atomically reserve `amount` against the permission's budget; False if it won't fit."""
        ...

    async def create_approval(self, request: VerifyInput, permission_id: str) -> str:
        """Create a pending approval for exactly this request; return its id."""
        ...

    async def consume_approval(
        self, request: VerifyInput, permission_id: str, approval_id: str
    ) -> bool:
        """Consume an approved, unused, unexpired approval for exactly this request."""
        ...


async def decide(
    request: VerifyInput,
    snapshot: PolicySnapshot | None,
    now: datetime,
    freshness: Freshness,
    steps: StatefulSteps,
) -> DecisionResult:
    """Decide one request against one immutable snapshot (steps 3-10 of §4)."""
    # 3. Freshness.
    if snapshot is None:
        return _stale(0, "the verifier has no policy snapshot yet")
    revision = snapshot.revision
    if now - freshness.last_heard > freshness.staleness_bound:
        return _stale(revision, "the verifier has lost contact with the registry for too long")
    if request.min_revision > revision:
        return _stale(
            revision, f"policy revision {revision} is behind min_revision {request.min_revision}"
        )

    # 4. The agent, looked up in the caller's tenant only.
    policy = snapshot.agent_policy(request.tenant_id, request.agent_id)
    if policy is None or policy.agent is None:
        return _deny(ReasonCode.AGENT_NOT_FOUND, "no such agent in this tenant", revision)
    if policy.agent.disabled:
        return _deny(ReasonCode.AGENT_DISABLED, "the agent is disabled", revision)

    # 5. Applicable permissions (active, resource matching); any block wins.
    action, resource, amount = request.action, request.resource, request.amount
    naming_action = policy.for_action(action)
    applicable = [
        (permission, match)
        for permission in naming_action
        if permission.is_active(now) and (match := permission.match(resource)) is not None
    ]
    for permission, match in applicable:
        if action in permission.blocked_actions:
            return _deny(
                ReasonCode.ACTION_BLOCKED,
                f"permission {permission.permission_id} blocks {action!r} on this resource",
                revision,
                _scored(permission, match, amount, now),
            )
    candidates = [(p, match) for p, match in applicable if action in p.allowed_actions]

    # 6. No candidate: the most specific reason.
    if not candidates:
        return _no_candidate(naming_action, action, resource, amount, now, revision)
    permission, match = min(candidates, key=lambda c: _preference(c[0], c[1], amount))
    pid = permission.permission_id
    risk = assess_risk(permission, match, amount, now)

    # 7a. Amount rules that need no I/O.
    problem = _amount_problem(permission, amount)
    if problem is not None:
        code, reason = problem
        return _deny(code, reason, revision, (pid, risk))

    # 8. Approval.
    approval_id = ""
    if permission.requires_approval:
        if not request.approval_id:
            try:
                new_approval_id = await steps.create_approval(request, pid)
            except RegistryUnavailable:
                return _registry_unavailable("create an approval", revision, pid, risk)
            except RequestIdReused:
                return _request_id_reused(revision, pid, risk)
            return DecisionResult(
                Outcome.REQUIRE_APPROVAL,
                ReasonCode.APPROVAL_REQUIRED,
                f"permission {pid} requires a human approval; one is now pending",
                risk,
                revision,
                permission_id=pid,
                approval_id=new_approval_id,
            )
        try:
            consumed = await steps.consume_approval(request, pid, request.approval_id)
        except RegistryUnavailable:
            return _registry_unavailable("consume the approval", revision, pid, risk)
        except RequestIdReused:
            return _request_id_reused(revision, pid, risk)
        if not consumed:
            return _deny(
                ReasonCode.APPROVAL_INVALID,
                "the approval given is not approved, unused and unexpired for exactly this request",
                revision,
                (pid, risk),
            )
        approval_id = request.approval_id

    # 7b. Budget, reserved only now that nothing else can deny.
    reserved = False
    if permission.budget is not None and amount is not None:
        try:
            reserved = await steps.reserve_budget(request, pid, amount)
        except RegistryUnavailable:
            result = _registry_unavailable("reserve budget", revision, pid, risk)
            return replace(result, approval_id=approval_id)
        except RequestIdReused:
            return replace(_request_id_reused(revision, pid, risk), approval_id=approval_id)
        if not reserved:
            result = _deny(
                ReasonCode.BUDGET_EXHAUSTED,
                f"the budget of permission {pid} cannot cover this amount",
                revision,
                (pid, risk),
            )
            return replace(result, approval_id=approval_id)

    # 9. Allow.
    code = ReasonCode.APPROVAL_CONSUMED if approval_id else ReasonCode.ALLOWED
    how = " with a consumed approval" if approval_id else ""
    return DecisionResult(
        Outcome.ALLOW,
        code,
        f"allowed by permission {pid}{how}",
        risk,
        revision,
        permission_id=pid,
        approval_id=approval_id,
        budget_reserved=reserved,
    )


def deny_for_audit_failure(result: DecisionResult) -> DecisionResult:
    """Step 11: a decision that could not be durably audited cannot stay an allow.

    Denies and approval requests keep their outcome (they grant nothing); `budget_reserved` is
    kept so the caller knows to release the reservation.
    """
    if result.outcome is not Outcome.ALLOW:
        return result
    return replace(
        result,
        outcome=Outcome.DENY,
        reason_code=ReasonCode.AUDIT_UNAVAILABLE,
        reason="the decision could not be durably audited, so it cannot be an allow",
    )


def _preference(
    permission: PermissionEntry, match: MatchKind, amount: Money | None
) -> tuple[bool, bool, MatchKind, str]:
    """Sort key of a candidate: smaller is preferred (see the module docstring)."""
    return (
        _amount_problem(permission, amount) is not None,
        permission.requires_approval,
        match,
        permission.permission_id,
    )


def _amount_problem(
    permission: PermissionEntry, amount: Money | None
) -> tuple[ReasonCode, str] | None:
    """The first pure amount rule the request breaks, or None.

    A budget limits amounts as much as a per-action maximum does, so either one makes an
    amount required: otherwise leaving the amount out would bypass the budget.
    """
    pid = permission.permission_id
    limit, budget = permission.max_amount, permission.budget
    if limit is None and budget is None:
        return None
    if amount is None:
        return ReasonCode.AMOUNT_REQUIRED, f"permission {pid} limits amounts; the request has none"
    if limit is not None:
        if amount.currency != limit.currency:
            return (
                ReasonCode.CURRENCY_MISMATCH,
                f"permission {pid} limits amounts in {limit.currency}, not {amount.currency}",
            )
        if amount.amount_minor > limit.amount_minor:
            return (
                ReasonCode.AMOUNT_EXCEEDS_LIMIT,
                f"amount {amount.amount_minor} {amount.currency} (minor units) exceeds the "
                f"limit {limit.amount_minor} of permission {pid}",
            )
    if budget is not None and amount.currency != budget.currency:
        return (
            ReasonCode.CURRENCY_MISMATCH,
            f"the budget of permission {pid} is in {budget.currency}, not {amount.currency}",
        )
    return None


def _no_candidate(
    naming_action: tuple[PermissionEntry, ...],
    action: str,
    resource: str,
    amount: Money | None,
    now: datetime,
    revision: int,
) -> DecisionResult:
    """Deny with the most specific reason: expired, then not yet valid, then wrong resource.

    Each considers only permissions that allow the action; the first in permission-id order
    becomes the decision's (closest) permission.
    """
    expired: PermissionEntry | None = None
    not_yet_valid: PermissionEntry | None = None
    elsewhere: PermissionEntry | None = None
    for permission in naming_action:
        if action not in permission.allowed_actions:
            continue
        if permission.is_active(now):
            elsewhere = elsewhere or permission  # active and allowing, so the resource differs
        elif permission.match(resource) is None:
            continue
        elif permission.expires_at is not None and now >= permission.expires_at:
            expired = expired or permission
        else:
            not_yet_valid = not_yet_valid or permission
    if expired is not None:
        return _deny(
            ReasonCode.PERMISSION_EXPIRED,
            f"permission {expired.permission_id} would allow {action!r} here but expired at "
            f"{_when(expired.expires_at)}",
            revision,
            _scored(expired, expired.match(resource), amount, now),
        )
    if not_yet_valid is not None:
        return _deny(
            ReasonCode.PERMISSION_NOT_YET_VALID,
            f"permission {not_yet_valid.permission_id} would allow {action!r} here but not "
            f"before {_when(not_yet_valid.not_before)}",
            revision,
            _scored(not_yet_valid, not_yet_valid.match(resource), amount, now),
        )
    if elsewhere is not None:
        return _deny(
            ReasonCode.RESOURCE_NOT_ALLOWED,
            f"permission {elsewhere.permission_id} allows {action!r} but not on {resource!r}",
            revision,
            _scored(elsewhere, None, amount, now),
        )
    return _deny(ReasonCode.NO_PERMISSION, f"no permission allows {action!r}", revision)


def _when(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else "an unknown time"


def _scored(
    permission: PermissionEntry, match: MatchKind | None, amount: Money | None, now: datetime
) -> tuple[str, Risk]:
    return permission.permission_id, assess_risk(permission, match, amount, now)


def _deny(
    code: ReasonCode,
    reason: str,
    revision: int,
    permission_and_risk: tuple[str, Risk] = ("", Risk.LOW),
) -> DecisionResult:
    permission_id, risk = permission_and_risk
    return DecisionResult(Outcome.DENY, code, reason, risk, revision, permission_id=permission_id)


def _stale(revision: int, reason: str) -> DecisionResult:
    return _deny(ReasonCode.STALE_POLICY, reason, revision)


def _request_id_reused(revision: int, pid: str, risk: Risk) -> DecisionResult:
    return _deny(
        ReasonCode.REQUEST_ID_REUSED,
        "the request id was already used for a different request; a request id names one request",
        revision,
        (pid, risk),
    )


def _registry_unavailable(step: str, revision: int, pid: str, risk: Risk) -> DecisionResult:
    return _deny(
        ReasonCode.REGISTRY_UNAVAILABLE,
        f"the registry could not be reached to {step}",
        revision,
        (pid, risk),
    )
