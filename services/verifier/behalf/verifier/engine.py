"""The Verify decision procedure (ARCHITECTURE §4, steps 3-10): pure, its few I/O steps injected.

`decide` reads top to bottom in the order of §4. Its only I/O is through `StatefulSteps`
(budget reservation and approvals at the registry), which the caller provides.

Which permission decides among several candidates is `choice`'s (its docstring gives the
order); what a decision concludes, and how each deny reads, is `outcomes`'.

Order of the rules after a permission is chosen, as §4 has it: the amount (its pure checks,
then the budget), then approval. A request that would go to a human (approval required, none
given) only has its budget checked, so an exhausted budget is BUDGET_EXHAUSTED before anyone
is asked, and a pending approval holds no budget. One that carries an approval reserves the
budget first and then consumes the approval, so an approval is never spent on a request the
budget denies; if the approval cannot be used, the reservation is given back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from behalf.verifier.choice import amount_problem, no_candidate, preference, scored
from behalf.verifier.outcomes import (
    DecisionResult,
    Outcome,
    ReasonCode,
    deny,
    deny_for_audit_failure,
    registry_unavailable,
    request_id_reused,
    stale,
)
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
    """How long the policy Verify answers from has gone without word from the registry (a
    heartbeat on the stream that installed it), on a clock that never steps back, and how long
    is ok. `clock_skew`: how far our wall clock was from the registry's at its last heartbeat;
    grants start and expire on our clock, so beyond the same bound it is stale policy too."""

    silent_for: timedelta
    staleness_bound: timedelta
    clock_skew: timedelta = timedelta(0)


class StatefulSteps(Protocol):
    """The registry calls a decision may need; each may raise `RegistryUnavailable`, and
    `RequestIdReused` when the request id already names a different request."""

    async def reserve_budget(
        self, request: VerifyInput, permission_id: str, amount: Money
    ) -> str | None:
        """Atomically reserve `amount` against the permission's budget: the claim this call now
        holds on the reservation ("" when nothing is held, as in a dry run), None if it won't
        fit."""
        ...

    async def check_budget(self, request: VerifyInput, permission_id: str, amount: Money) -> bool:
        """Whether `amount` fits the permission's budget now; nothing is reserved."""
        ...

    async def release_budget(self, request: VerifyInput, permission_id: str, claim: str) -> None:
        """Give back the claim `reserve_budget` returned (the request was not allowed)."""
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
        return stale(0, "the verifier has no policy snapshot yet")
    revision = snapshot.revision
    if freshness.silent_for > freshness.staleness_bound:
        return stale(revision, "the verifier has lost contact with the registry for too long")
    if freshness.clock_skew > freshness.staleness_bound:
        skew = freshness.clock_skew.total_seconds()
        return stale(revision, f"the verifier's clock is {skew:.1f} s off the registry's")
    if request.min_revision > revision:
        return stale(
            revision, f"policy revision {revision} is behind min_revision {request.min_revision}"
        )

    # 4. The agent, looked up in the caller's tenant only.
    policy = snapshot.agent_policy(request.tenant_id, request.agent_id)
    if policy is None or policy.agent is None:
        return deny(ReasonCode.AGENT_NOT_FOUND, "no such agent in this tenant", revision)
    if policy.agent.disabled:
        return deny(ReasonCode.AGENT_DISABLED, "the agent is disabled", revision)

    # 5. Applicable permissions (active, resource matching); any block wins.
    action, resource, amount = request.action, request.resource, request.amount
    naming_action = policy.for_action(action)
    candidates: list[tuple[PermissionEntry, MatchKind]] = []
    for permission in naming_action:
        if not permission.is_active(now):
            continue
        if action in permission.blocked_actions:
            if (match := permission.block_match(resource)) is not None:
                return deny(
                    ReasonCode.ACTION_BLOCKED,
                    f"permission {permission.permission_id} blocks {action!r} on this resource",
                    revision,
                    scored(permission, match, amount, now),
                )
        elif (match := permission.match(resource)) is not None:
            candidates.append((permission, match))

    # 6. No candidate: the most specific reason.
    if not candidates:
        return no_candidate(naming_action, action, resource, amount, now, revision)
    permission, match = min(candidates, key=lambda c: preference(c[0], c[1], amount))
    pid = permission.permission_id
    risk = assess_risk(permission, match, amount, now)

    # 7a. Amount rules that need no I/O.
    problem = amount_problem(permission, amount)
    if problem is not None:
        code, reason = problem
        return deny(code, reason, revision, (pid, risk))

    # 7b. Budget. A request on its way to a human is only checked: a pending approval holds
    # no budget, and nobody is asked to approve a spend the budget cannot cover.
    asks_a_human = permission.requires_approval and not request.approval_id
    claim = ""
    if permission.budget is not None and amount is not None:
        try:
            if asks_a_human:
                fits = await steps.check_budget(request, pid, amount)
                reserved = "" if fits else None
            else:
                reserved = await steps.reserve_budget(request, pid, amount)
        except RegistryUnavailable:
            return registry_unavailable("reserve budget", revision, pid, risk)
        except RequestIdReused:
            return request_id_reused(revision, pid, risk)
        if reserved is None:
            return deny(
                ReasonCode.BUDGET_EXHAUSTED,
                f"the budget of permission {pid} cannot cover this amount",
                revision,
                (pid, risk),
            )
        claim = reserved

    # 8. Approval.
    approval_id = ""
    if asks_a_human:
        try:
            new_approval_id = await steps.create_approval(request, pid)
        except RegistryUnavailable:
            return registry_unavailable("create an approval", revision, pid, risk)
        except RequestIdReused:
            return request_id_reused(revision, pid, risk)
        return DecisionResult(
            Outcome.REQUIRE_APPROVAL,
            ReasonCode.APPROVAL_REQUIRED,
            f"permission {pid} requires a human approval; one is now pending",
            risk,
            revision,
            permission_id=pid,
            approval_id=new_approval_id,
        )
    if permission.requires_approval:
        try:
            consumed = await steps.consume_approval(request, pid, request.approval_id)
        except RegistryUnavailable:
            await _give_back(steps, request, pid, claim)
            return registry_unavailable("consume the approval", revision, pid, risk)
        except RequestIdReused:
            await _give_back(steps, request, pid, claim)
            return request_id_reused(revision, pid, risk)
        if not consumed:
            await _give_back(steps, request, pid, claim)
            return deny(
                ReasonCode.APPROVAL_INVALID,
                "the approval given is not approved, unused and unexpired for exactly this request",
                revision,
                (pid, risk),
            )
        approval_id = request.approval_id

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
        budget_claim=claim,
    )


async def _give_back(steps: StatefulSteps, request: VerifyInput, pid: str, claim: str) -> None:
    """Release a reservation this request will not be allowed to use. A registry that cannot
    be reached keeps it spent: the budget errs on the side of less."""
    if claim:
        try:
            await steps.release_budget(request, pid, claim)
        except RegistryUnavailable:
            pass
