"""Tests for the pure Verify decision procedure and its risk score."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from behalf.v1 import common_pb2, internal_pb2, resources_pb2
from behalf.verifier.dry_run import DryRunSteps
from behalf.verifier.engine import (
    DecisionResult,
    Freshness,
    Money,
    Outcome,
    ReasonCode,
    RegistryUnavailable,
    Risk,
    StatefulSteps,
    VerifyInput,
    decide,
    deny_for_audit_failure,
)
from behalf.verifier.risk import assess_risk
from behalf.verifier.snapshot import (
    ActionCategory,
    AgentEntry,
    MatchKind,
    PermissionEntry,
    PolicySnapshot,
    apply_delta,
    permission_from_proto,
    snapshot_from_entries,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
FRESH = Freshness(silent_for=timedelta(0), staleness_bound=timedelta(seconds=30))
TENANT = "ten_acme0000000000000000"
AGENT = "agt_buyer000000000000000"
USD = "USD"


@dataclass
class RecordingSteps:
    """Stateful steps that answer as configured and record every call."""

    reserve: bool | None = True  # None: the registry is unavailable
    consume: bool | None = True
    create: str | None = "apr_new00000000000000000"
    calls: list[str] = field(default_factory=list)

    async def reserve_budget(
        self, request: VerifyInput, permission_id: str, amount: Money
    ) -> str | None:
        self.calls.append("reserve_budget")
        if self.reserve is None:
            raise RegistryUnavailable("down")
        return "claim-1" if self.reserve else None

    async def check_budget(self, request: VerifyInput, permission_id: str, amount: Money) -> bool:
        self.calls.append("check_budget")
        if self.reserve is None:
            raise RegistryUnavailable("down")
        return bool(self.reserve)

    async def release_budget(self, request: VerifyInput, permission_id: str, claim: str) -> None:
        self.calls.append(f"release_budget {claim}")

    async def create_approval(self, request: VerifyInput, permission_id: str) -> str:
        self.calls.append("create_approval")
        if self.create is None:
            raise RegistryUnavailable("down")
        return self.create

    async def consume_approval(
        self, request: VerifyInput, permission_id: str, approval_id: str
    ) -> bool:
        self.calls.append("consume_approval")
        if self.consume is None:
            raise RegistryUnavailable("down")
        return self.consume


def permission(pid: str = "prm_a", **fields: object) -> PermissionEntry:
    values: dict[str, object] = {
        "permission_id": pid,
        "tenant_id": TENANT,
        "agent_id": AGENT,
        "allowed_actions": frozenset({"purchase"}),
        "exact_resources": frozenset({"shop.example.com"}),
    }
    values.update(fields)
    return PermissionEntry(**values)  # type: ignore[arg-type]


def snapshot_of(*permissions: PermissionEntry, disabled: bool = False) -> PolicySnapshot:
    return snapshot_from_entries(7, [AgentEntry(TENANT, AGENT, disabled)], permissions)


def request(amount: Money | None = None, **fields: object) -> VerifyInput:
    values: dict[str, object] = {
        "tenant_id": TENANT,
        "agent_id": AGENT,
        "action": "purchase",
        "resource": "shop.example.com",
        "amount": amount,
        "request_id": "req_1",
    }
    values.update(fields)
    return VerifyInput(**values)  # type: ignore[arg-type]


def run(
    req: VerifyInput,
    snapshot: PolicySnapshot | None,
    steps: StatefulSteps | None = None,
    freshness: Freshness = FRESH,
) -> DecisionResult:
    # The recording steps never suspend, so the coroutine completes on its first step; this
    # keeps hundreds of property examples free of event-loop setup.
    coroutine = decide(req, snapshot, NOW, freshness, steps or RecordingSteps())
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise AssertionError("decide suspended on a step that never suspends")


@pytest.mark.parametrize(
    ("ours", "proto_enum", "prefix"),
    [
        (Outcome, common_pb2.Outcome, "OUTCOME_"),
        (ReasonCode, common_pb2.ReasonCode, "REASON_CODE_"),
        (Risk, common_pb2.Risk, "RISK_"),
        (ActionCategory, common_pb2.ActionCategory, "ACTION_CATEGORY_"),
    ],
)
def test_enums_mirror_the_proto(ours: type, proto_enum: object, prefix: str) -> None:
    """Each Python enum has exactly the proto enum's names and numbers, bar UNSPECIFIED."""
    proto = {
        name.removeprefix(prefix): number
        for name, number in proto_enum.items()  # type: ignore[attr-defined]
        if not name.endswith("_UNSPECIFIED") or ours is ActionCategory
    }
    assert {member.name: member.value for member in ours} == proto


def test_approval_required_checks_the_budget_and_holds_none() -> None:
    """A REQUIRE_APPROVAL checks that the budget could cover the amount (§4: the amount before
    the approval), creates an approval and reserves nothing."""
    steps = RecordingSteps()
    gated = permission(requires_approval=True, budget=Money(1000, USD))
    result = run(request(Money(10, USD)), snapshot_of(gated), steps)
    assert (result.outcome, result.approval_id) == (Outcome.REQUIRE_APPROVAL, steps.create)
    assert steps.calls == ["check_budget", "create_approval"]


def test_an_exhausted_budget_is_denied_before_a_human_is_asked() -> None:
    """§4 step 7 before step 8: a spend the budget cannot cover is BUDGET_EXHAUSTED, and no
    approval is created for a human to approve in vain."""
    steps = RecordingSteps(reserve=False)
    gated = permission(requires_approval=True, budget=Money(1000, USD))
    result = run(request(Money(10, USD)), snapshot_of(gated), steps)
    assert (result.outcome, result.reason_code) == (Outcome.DENY, ReasonCode.BUDGET_EXHAUSTED)
    assert steps.calls == ["check_budget"]


def test_an_invalid_approval_gives_back_the_budget_it_reserved() -> None:
    """With an approval, the budget is reserved first; an unusable approval denies
    APPROVAL_INVALID and the reservation is given back."""
    steps = RecordingSteps(consume=False)
    gated = permission(requires_approval=True, budget=Money(1000, USD))
    result = run(request(Money(10, USD), approval_id="apr_x"), snapshot_of(gated), steps)
    assert result.reason_code is ReasonCode.APPROVAL_INVALID and result.budget_claim == ""
    assert steps.calls == ["reserve_budget", "consume_approval", "release_budget claim-1"]


def test_budget_is_reserved_before_the_approval_is_consumed() -> None:
    """With both, the budget is reserved first and the allow carries the call's claim."""
    steps = RecordingSteps()
    gated = permission(requires_approval=True, budget=Money(1000, USD))
    result = run(request(Money(10, USD), approval_id="apr_x"), snapshot_of(gated), steps)
    assert steps.calls == ["reserve_budget", "consume_approval"]
    assert (result.reason_code, result.approval_id) == (ReasonCode.APPROVAL_CONSUMED, "apr_x")
    assert result.budget_claim == "claim-1"


def test_test_mode_reports_an_exhausted_budget_rather_than_an_approval() -> None:
    """Test mode answers "would this be allowed?" by the same order: the budget, read only,
    before the approval."""
    reader = RecordingSteps(reserve=False)
    gated = permission(requires_approval=True, budget=Money(1000, USD))
    result = run(request(Money(10, USD)), snapshot_of(gated), DryRunSteps(reader))
    assert (result.outcome, result.reason_code) == (Outcome.DENY, ReasonCode.BUDGET_EXHAUSTED)
    assert reader.calls == ["check_budget"]


def test_an_approval_is_never_spent_on_a_request_the_budget_denies() -> None:
    """An exhausted budget denies before the approval is touched: it stays usable."""
    steps = RecordingSteps(reserve=False)
    gated = permission(requires_approval=True, budget=Money(1000, USD))
    result = run(request(Money(10, USD), approval_id="apr_x"), snapshot_of(gated), steps)
    assert result.reason_code is ReasonCode.BUDGET_EXHAUSTED
    assert steps.calls == ["reserve_budget"]


def test_a_block_on_an_unreadable_name_blocks_the_action_everywhere() -> None:
    """A stored block the parser now refuses still denies, over an allow on a readable name."""
    allow = permission_from_proto(
        resources_pb2.Permission(
            permission_id="prm_a",
            tenant_id=TENANT,
            agent_id=AGENT,
            allowed_actions=["purchase"],
            resources=["shop.example.com"],
        )
    )
    legacy_block = permission_from_proto(
        resources_pb2.Permission(
            permission_id="prm_b",
            tenant_id=TENANT,
            agent_id=AGENT,
            blocked_actions=["purchase"],
            resources=["shop\u3164.example.com"],
        )
    )
    result = run(request(), snapshot_of(allow, legacy_block))
    assert (result.outcome, result.reason_code) == (Outcome.DENY, ReasonCode.ACTION_BLOCKED)
    assert "prm_b" in result.reason
    assert run(request(), snapshot_of(allow)).outcome is Outcome.ALLOW


@pytest.mark.parametrize(
    ("steps", "gated"),
    [
        (RecordingSteps(reserve=None), False),
        (RecordingSteps(create=None), True),
        (RecordingSteps(consume=None), True),
    ],
)
def test_registry_errors_deny_registry_unavailable(steps: RecordingSteps, gated: bool) -> None:
    """Any stateful step raising RegistryUnavailable denies REGISTRY_UNAVAILABLE."""
    entry = permission(requires_approval=gated, budget=Money(1000, USD))
    approval_id = "apr_x" if steps.consume is None else ""
    result = run(request(Money(10, USD), approval_id=approval_id), snapshot_of(entry), steps)
    assert (result.outcome, result.reason_code) == (Outcome.DENY, ReasonCode.REGISTRY_UNAVAILABLE)


def test_pure_denies_make_no_registry_calls() -> None:
    """Denies decided from the snapshot alone never call the registry."""
    steps = RecordingSteps()
    run(request(Money(5000, USD)), snapshot_of(permission(max_amount=Money(100, USD))), steps)
    run(request(), snapshot_of(), steps)
    assert steps.calls == []


def test_audit_failure_turns_only_allows_into_denies() -> None:
    """deny_for_audit_failure denies an allow, keeps its budget claim, and leaves the rest."""
    allow = run(request(Money(10, USD)), snapshot_of(permission(budget=Money(100, USD))))
    denied = deny_for_audit_failure(allow)
    assert (denied.outcome, denied.reason_code) == (Outcome.DENY, ReasonCode.AUDIT_UNAVAILABLE)
    assert denied.budget_claim == "claim-1" and denied.permission_id == allow.permission_id
    pending = run(request(), snapshot_of(permission(requires_approval=True)))
    assert deny_for_audit_failure(pending) is pending


def test_other_tenants_agent_is_not_found_and_unnamed() -> None:
    """Another tenant's agent is AGENT_NOT_FOUND and its ids appear nowhere in the reason."""
    other = "ten_globex00000000000000"
    snapshot = snapshot_from_entries(
        1, [AgentEntry(other, AGENT, False)], [permission(tenant_id=other, permission_id="prm_g")]
    )
    result = run(request(), snapshot)
    assert result.reason_code is ReasonCode.AGENT_NOT_FOUND
    assert (
        other not in result.reason and AGENT not in result.reason and "prm_g" not in result.reason
    )
    assert result.permission_id == ""


def test_stale_when_registry_silent_beyond_bound() -> None:
    """Being out of contact for longer than the staleness bound denies STALE_POLICY."""
    silent = Freshness(silent_for=timedelta(seconds=31), staleness_bound=timedelta(seconds=30))
    result = run(request(), snapshot_of(permission()), freshness=silent)
    assert result.reason_code is ReasonCode.STALE_POLICY


@pytest.mark.parametrize(("skew_seconds", "outcome"), [(29, Outcome.ALLOW), (31, Outcome.DENY)])
def test_stale_when_the_clock_is_off_the_registrys_beyond_bound(
    skew_seconds: int, outcome: Outcome
) -> None:
    """Grants start and expire on the verifier's clock: off by more than the bound, STALE."""
    skewed = Freshness(
        silent_for=timedelta(0),
        staleness_bound=timedelta(seconds=30),
        clock_skew=timedelta(seconds=skew_seconds),
    )
    result = run(request(), snapshot_of(permission()), freshness=skewed)
    assert result.outcome is outcome
    if outcome is Outcome.DENY:
        assert result.reason_code is ReasonCode.STALE_POLICY
        assert "clock is 31.0 s off" in result.reason


@pytest.mark.parametrize(
    ("category", "match", "amount", "expires_in", "expected"),
    [
        (ActionCategory.DATA_ACCESS, MatchKind.EXACT, None, None, Risk.LOW),
        (ActionCategory.DATA_ACCESS, MatchKind.WILDCARD, None, None, Risk.LOW),
        (ActionCategory.MESSAGING, MatchKind.EXACT, None, None, Risk.LOW),
        (ActionCategory.MESSAGING, MatchKind.ANY_RESOURCE, None, None, Risk.MEDIUM),
        (ActionCategory.TRANSACTIONS, MatchKind.EXACT, 79, None, Risk.MEDIUM),
        (ActionCategory.TRANSACTIONS, MatchKind.EXACT, 80, None, Risk.HIGH),
        (ActionCategory.ADMIN_WORKFLOWS, MatchKind.EXACT, None, timedelta(minutes=9), Risk.HIGH),
        (ActionCategory.ADMIN_WORKFLOWS, MatchKind.EXACT, None, timedelta(minutes=10), Risk.MEDIUM),
        (ActionCategory.UNSPECIFIED, None, None, None, Risk.HIGH),
        (ActionCategory.CONTENT, MatchKind.WILDCARD, 100, timedelta(minutes=1), Risk.HIGH),
    ],
)
def test_risk_table(
    category: ActionCategory,
    match: MatchKind | None,
    amount: int | None,
    expires_in: timedelta | None,
    expected: Risk,
) -> None:
    """assess_risk follows the documented points table."""
    entry = permission(
        category=category,
        max_amount=Money(100, USD),
        expires_at=NOW + expires_in if expires_in else None,
    )
    money = Money(amount, USD) if amount is not None else None
    assert assess_risk(entry, match, money, NOW) is expected


def test_risk_uses_remaining_budget_without_max_amount() -> None:
    """Without max_amount, an amount of 80% or more of the remaining budget bumps the risk."""
    entry = permission(
        category=ActionCategory.MESSAGING, budget=Money(1000, USD), budget_spent_minor=900
    )
    assert assess_risk(entry, MatchKind.EXACT, Money(80, USD), NOW) is Risk.MEDIUM
    assert assess_risk(entry, MatchKind.EXACT, Money(79, USD), NOW) is Risk.LOW
    assert assess_risk(entry, MatchKind.EXACT, Money(99, "EUR"), NOW) is Risk.LOW


def test_risk_without_permission_is_low() -> None:
    """Denies reached before any permission is found score LOW."""
    assert assess_risk(None, None, Money(10**9, USD), NOW) is Risk.LOW


# --- properties over random policies ------------------------------------------------------

ACTIONS = ["purchase", "send_email", "browse_web"]
RESOURCES = ["shop.example.com", "a.shop.example.com", "example.com", "evilexample.com", ""]
PATTERNS = ["shop.example.com", "example.com", "*.example.com", "*.shop.example.com"]
WINDOWS = [
    (None, None),
    (NOW - timedelta(days=1), NOW + timedelta(days=1)),
    (None, NOW - timedelta(seconds=1)),
    (NOW + timedelta(seconds=1), None),
    (None, NOW + timedelta(minutes=5)),
]


@st.composite
def permissions(draw: st.DrawFn, index: int, with_limit: bool | None = None) -> PermissionEntry:
    patterns = draw(st.lists(st.sampled_from(PATTERNS), max_size=2, unique=True))
    not_before, expires_at = draw(st.sampled_from(WINDOWS))
    limited = draw(st.booleans()) if with_limit is None else with_limit
    return PermissionEntry(
        permission_id=f"prm_{index:02d}",
        tenant_id=TENANT,
        agent_id=AGENT,
        allowed_actions=frozenset(draw(st.lists(st.sampled_from(ACTIONS), max_size=3))),
        blocked_actions=frozenset(draw(st.lists(st.sampled_from(ACTIONS), max_size=1))),
        exact_resources=frozenset(p for p in patterns if not p.startswith("*.")),
        wildcard_resources=tuple(p for p in patterns if p.startswith("*.")),
        any_resource=not patterns,
        max_amount=Money(draw(st.integers(0, 1000)), USD) if limited else None,
        budget=draw(st.sampled_from([None, Money(500, USD)])),
        not_before=not_before,
        expires_at=expires_at,
        requires_approval=draw(st.booleans()),
        category=draw(st.sampled_from(list(ActionCategory))),
        unreadable_resources=draw(st.booleans()),
    )


@st.composite
def policies(
    draw: st.DrawFn, with_limit: bool | None = None
) -> tuple[list[PermissionEntry], VerifyInput]:
    count = draw(st.integers(0, 5))
    entries = [draw(permissions(i, with_limit)) for i in range(count)]
    amount = draw(
        st.one_of(st.none(), st.builds(Money, st.integers(0, 1500), st.sampled_from([USD, "EUR"])))
    )
    req = request(
        amount,
        action=draw(st.sampled_from(ACTIONS)),
        resource=draw(st.sampled_from(RESOURCES)),
        approval_id=draw(st.sampled_from(["", "apr_x"])),
    )
    return entries, req


STEPS = st.builds(
    RecordingSteps,
    reserve=st.sampled_from([True, False, None]),
    consume=st.sampled_from([True, False, None]),
)


def covers(entry: PermissionEntry, req: VerifyInput) -> bool:
    return entry.is_active(NOW) and entry.match(req.resource) is not None


def blocks(entry: PermissionEntry, req: VerifyInput) -> bool:
    return (
        entry.is_active(NOW)
        and req.action in entry.blocked_actions
        and entry.block_match(req.resource) is not None
    )


@settings(max_examples=150)
@given(policies(), STEPS)
def test_blocked_action_is_never_allowed(policy: tuple, steps: RecordingSteps) -> None:
    """If any active permission blocking the action covers the resource, it is ACTION_BLOCKED.

    A block with a resource name that no longer reads covers every resource.
    """
    entries, req = policy
    result = run(req, snapshot_of(*entries), steps)
    if any(blocks(e, req) for e in entries):
        assert (result.outcome, result.reason_code) == (Outcome.DENY, ReasonCode.ACTION_BLOCKED)


@settings(max_examples=150)
@given(policies(), STEPS)
def test_every_allow_is_justified(policy: tuple, steps: RecordingSteps) -> None:
    """An allow names an active, covering permission that allows the action within its limits."""
    entries, req = policy
    result = run(req, snapshot_of(*entries), steps)
    if result.outcome is not Outcome.ALLOW:
        return
    chosen = next(e for e in entries if e.permission_id == result.permission_id)
    assert covers(chosen, req) and req.action in chosen.allowed_actions
    assert not any(covers(e, req) and req.action in e.blocked_actions for e in entries)
    if chosen.max_amount is not None:
        assert req.amount is not None and req.amount.currency == chosen.max_amount.currency
        assert req.amount.amount_minor <= chosen.max_amount.amount_minor
    if chosen.requires_approval:
        assert result.reason_code is ReasonCode.APPROVAL_CONSUMED


@settings(max_examples=100)
@given(policies(), STEPS)
def test_no_permission_means_deny(policy: tuple, steps: RecordingSteps) -> None:
    """Without a permission allowing the action, the outcome is a deny with a no-candidate code."""
    entries, req = policy
    entries = [e for e in entries if req.action not in e.allowed_actions]
    result = run(req, snapshot_of(*entries), steps)
    assert result.outcome is Outcome.DENY
    assert result.reason_code in {ReasonCode.ACTION_BLOCKED, ReasonCode.NO_PERMISSION}
    assert steps.calls == []


@settings(max_examples=100)
@given(policies(with_limit=True), STEPS)
def test_amount_over_every_limit_is_never_allowed(policy: tuple, steps: RecordingSteps) -> None:
    """An amount above every permission's max_amount is never allowed nor sent for approval."""
    entries, req = policy
    top = max((e.max_amount.amount_minor for e in entries if e.max_amount), default=0)
    over = VerifyInput(**{**_fields(req), "amount": Money(top + 1, USD)})
    result = run(over, snapshot_of(*entries), steps)
    assert result.outcome is Outcome.DENY


@settings(max_examples=100)
@given(policies(), STEPS)
def test_disabled_agent_is_denied_everything(policy: tuple, steps: RecordingSteps) -> None:
    """A disabled agent gets AGENT_DISABLED whatever its permissions, and no registry call."""
    entries, req = policy
    result = run(req, snapshot_of(*entries, disabled=True), steps)
    assert (result.outcome, result.reason_code) == (Outcome.DENY, ReasonCode.AGENT_DISABLED)
    assert steps.calls == []


@settings(max_examples=100)
@given(policies())
def test_decisions_are_deterministic(policy: tuple) -> None:
    """The same request against the same snapshot decides the same way, whatever the order."""
    entries, req = policy
    first = run(req, snapshot_of(*entries))
    second = run(req, snapshot_of(*reversed(entries)))
    assert first == second


def _fields(req: VerifyInput) -> dict[str, object]:
    return {name: getattr(req, name) for name in VerifyInput.__dataclass_fields__}


@settings(max_examples=100)
@given(policies(), STEPS, st.integers(1, 20), st.booleans())
def test_nothing_allowed_at_a_disables_revision(
    policy: tuple, steps: RecordingSteps, gap: int, applied: bool
) -> None:
    """Passing a DisableAgent's revision as min_revision never yields an allow, whether the
    verifier has applied that revision yet or not."""
    entries, req = policy
    before = snapshot_of(*entries)
    disable_revision = before.revision + gap
    delta = internal_pb2.PolicyDelta(revision=disable_revision, tenant_id=TENANT)
    delta.changes.add().agent_upserted.CopyFrom(
        resources_pb2.Agent(agent_id=AGENT, tenant_id=TENANT, disabled=True)
    )
    current = apply_delta(before, delta) if applied else before
    asked = VerifyInput(**{**_fields(req), "min_revision": disable_revision})
    result = run(asked, current, steps)
    assert result.outcome is Outcome.DENY
    expected = ReasonCode.AGENT_DISABLED if applied else ReasonCode.STALE_POLICY
    assert result.reason_code is expected
