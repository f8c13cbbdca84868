"""`engine.decide` against the agent: which permission decides, currencies, test mode.

Each test pins the SAFE behaviour against one attack by the agent (the party Behalf limits).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from behalf.verifier.dry_run import DryRunSteps
from behalf.verifier.engine import Freshness, Money, Outcome, ReasonCode, VerifyInput, decide
from behalf.verifier.snapshot import AgentEntry, PermissionEntry, snapshot_from_entries

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
FRESH = Freshness(silent_for=timedelta(0), staleness_bound=timedelta(seconds=30))
TENANT = "ten_review000000000000000"
AGENT = "agt_review000000000000000"
INT64_MAX = 2**63 - 1


@dataclass
class Steps:
    reserve_fits: bool = True
    calls: list[tuple[str, str]] = field(default_factory=list)

    async def reserve_budget(self, request: VerifyInput, permission_id: str, amount: Money):
        self.calls.append(("reserve", permission_id))
        return "claim" if self.reserve_fits else None

    async def create_approval(self, request: VerifyInput, permission_id: str) -> str:
        self.calls.append(("create", permission_id))
        return "apr_created0000000000000"

    async def consume_approval(self, request: VerifyInput, permission_id: str, approval_id: str):
        self.calls.append(("consume", permission_id))
        return True

    async def check_budget(self, request: VerifyInput, permission_id: str, amount: Money) -> bool:
        self.calls.append(("check", permission_id))
        return True


def _perm(pid: str, resources: tuple[str, ...] = ("shop.example",), **kw) -> PermissionEntry:
    exact = tuple(r for r in resources if not r.startswith("*"))
    wild = tuple(r for r in resources if r.startswith("*."))
    return PermissionEntry(
        permission_id=pid,
        tenant_id=TENANT,
        agent_id=AGENT,
        allowed_actions=kw.pop("allowed", frozenset({"purchase"})),
        exact_resources=exact,
        wildcard_resources=wild,
        any_resource="*" in resources,
        **kw,
    )


def _decide(perms, steps, amount: Money | None, **request):
    snapshot = snapshot_from_entries(10, [AgentEntry(TENANT, AGENT, disabled=False)], perms)
    asked = VerifyInput(
        tenant_id=TENANT,
        agent_id=AGENT,
        action="purchase",
        resource=request.pop("resource", "shop.example"),
        amount=amount,
        request_id="req-review",
        **request,
    )
    return asyncio.run(decide(asked, snapshot, NOW, FRESH, steps))


def test_the_budget_is_charged_to_the_permission_whose_limits_were_checked() -> None:
    """Attack: two grants cover the request; the agent sends an amount over the small grant's
    limit hoping the big grant's limit is checked but the small grant's budget charged (or no
    budget at all). The chosen permission is the one checked, reserved and named."""
    small = _perm("prm_a", max_amount=Money(100, "USD"), budget=Money(150, "USD"))
    big = _perm(
        "prm_b",
        ("*.example", "shop.example"),
        max_amount=Money(5000, "USD"),
        budget=Money(6000, "USD"),
    )
    steps = Steps()
    result = _decide([small, big], steps, Money(4000, "USD"))
    assert result.outcome is Outcome.ALLOW and result.permission_id == "prm_b"
    assert steps.calls == [("reserve", "prm_b")]
    # Over every limit: denied, nothing reserved anywhere.
    steps = Steps()
    result = _decide([small, big], steps, Money(INT64_MAX, "USD"))
    assert result.reason_code is ReasonCode.AMOUNT_EXCEEDS_LIMIT and steps.calls == []


def test_currency_tricks_fail_closed() -> None:
    """Attack: a zero or int64-max amount in another currency (JPY, three-decimal KWD) against a
    limit or budget in USD; or no amount at all against a budget-only grant."""
    limited = _perm("prm_a", max_amount=Money(100, "USD"))
    budget_only = _perm("prm_b", ("other.example",), budget=Money(100, "USD"))
    for amount in (Money(0, "JPY"), Money(INT64_MAX, "KWD"), Money(1, "usd")):
        result = _decide([limited], Steps(), amount)
        assert result.reason_code is ReasonCode.CURRENCY_MISMATCH, amount
        result = _decide([budget_only], Steps(), amount, resource="other.example")
        assert result.reason_code is ReasonCode.CURRENCY_MISMATCH, amount
    result = _decide([budget_only], Steps(), None, resource="other.example")
    assert result.reason_code is ReasonCode.AMOUNT_REQUIRED


def test_a_block_in_one_grant_beats_an_exact_allow_in_another() -> None:
    """Attack: the agent holds an exact allow on shop.example and a wildcard grant that blocks
    purchase on *.example; blocked wins whichever is more specific or more generous."""
    allow = _perm("prm_a", ("shop.example",))
    block = _perm(
        "prm_z",
        ("*.example",),
        allowed=frozenset({"browse_web"}),
        blocked_actions=frozenset({"purchase"}),
    )
    steps = Steps()
    result = _decide([allow, block], steps, None)
    assert result.reason_code is ReasonCode.ACTION_BLOCKED and steps.calls == []


def test_a_test_mode_decision_consumes_creates_and_reserves_nothing() -> None:
    """Attack: a test-mode request carrying an approved approval id, or asking for a new one,
    or spending budget. DryRunSteps reads the budget and changes nothing."""
    perm = _perm(
        "prm_a", max_amount=Money(500, "USD"), budget=Money(500, "USD"), requires_approval=True
    )
    reader = Steps()
    dry = DryRunSteps(reader)
    with_id = _decide([perm], dry, Money(100, "USD"), approval_id="apr_approved000000000000")
    assert with_id.outcome is Outcome.DENY and with_id.reason_code is ReasonCode.APPROVAL_INVALID
    asking = _decide([perm], dry, Money(100, "USD"))
    assert asking.outcome is Outcome.REQUIRE_APPROVAL and asking.approval_id == ""
    no_approval = _perm("prm_b", max_amount=Money(500, "USD"), budget=Money(500, "USD"))
    spent = _decide([no_approval], dry, Money(100, "USD"))
    assert spent.outcome is Outcome.ALLOW and spent.budget_claim == ""
    assert all(call[0] == "check" for call in reader.calls)
