"""The gate with a fake Verify client: only an explicit ALLOW forwards, approvals bind to the
exact call that created them, and every failure refuses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from behalf import (
    ActionDenied,
    Approval,
    ApprovalRequired,
    AuthenticationError,
    Decision,
    Money,
    NotFound,
    VerificationUnavailable,
)
from behalf.mcp_gateway.approvals import PendingApprovals, call_fingerprint
from behalf.mcp_gateway.config import (
    AmountMapping,
    CurrencyMapping,
    Extract,
    ResourceMapping,
    ToolPolicy,
)
from behalf.mcp_gateway.gate import Allowed, Gate, Refused

REFUND = ToolPolicy(
    "refund",
    "issue_refund",
    ResourceMapping(argument="url", extract=Extract.URL_HOST),
    AmountMapping("amount"),
    CurrencyMapping(constant="USD"),
    # An upstream argument of that name must not become the Verify's approval.
    unchecked_arguments=frozenset({"approval_id"}),
)
WIPE = ToolPolicy("wipe", "delete_records", ResourceMapping(constant="crm.example"))
ORDER = {"url": "https://coachella.com/o/1", "amount": "25.00"}


def _decision(outcome: str, code: str, approval_id: str = "") -> Decision:
    return Decision("req_1", outcome, code, f"because {code}", "LOW", approval_id=approval_id)


@dataclass
class FakeClient:
    """Answers Verify from a script and records what it was asked."""

    answers: list[Decision | Exception] = field(default_factory=list)
    approvals: dict[str, str] = field(default_factory=dict)
    asked: list[dict[str, Any]] = field(default_factory=list)
    checks: dict[str, str] = field(default_factory=dict)

    async def verify(
        self,
        agent_id: str,
        action: str,
        *,
        resource: str = "",
        amount: Money | None = None,
        context: Mapping[str, str] | None = None,
        approval_id: str = "",
    ) -> Decision:
        self.asked.append(
            {"action": action, "resource": resource, "amount": amount, "approval_id": approval_id}
        )
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if answer.outcome == "REQUIRE_APPROVAL":
            raise ApprovalRequired(answer)
        if answer.outcome != "ALLOW":
            raise ActionDenied(answer)
        return answer

    async def check(self, agent_id: str, action: str, *, resource: str = "") -> Decision:
        code = self.checks.get(action, "ALLOWED")
        if code == "boom":
            raise VerificationUnavailable("down")
        return _decision("ALLOW" if code == "ALLOWED" else "DENY", code)

    async def get_approval(self, approval_id: str) -> Approval:
        state = self.approvals.get(approval_id)
        if state is None:
            raise NotFound("no such approval")
        return Approval(approval_id, state, "agt_1", "issue_refund", "coachella.com", None, "", "")


def _gate(client: FakeClient, pending: PendingApprovals | None = None) -> Gate:
    return Gate(client, "agt_1", {"refund": REFUND, "wipe": WIPE}, ["search"], pending)


async def test_only_an_explicit_allow_forwards():
    """ALLOW forwards with the decision; the question carries the mapped action, host and
    exact amount, and never an approval the call did not earn."""
    client = FakeClient([_decision("ALLOW", "ALLOWED")])
    verdict = await _gate(client).decide("refund", {**ORDER, "approval_id": "apr_stolen"})
    assert isinstance(verdict, Allowed) and verdict.decision is not None
    assert client.asked == [
        {
            "action": "issue_refund",
            "resource": "coachella.com",
            "amount": Money(2500, "USD"),
            "approval_id": "",
        }
    ]


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (_decision("DENY", "AMOUNT_EXCEEDS_LIMIT"), "AMOUNT_EXCEEDS_LIMIT"),
        (_decision("UNSPECIFIED", "UNSPECIFIED"), "UNSPECIFIED"),
        (VerificationUnavailable("Verify: deadline of 2s exceeded"), "VERIFICATION_UNAVAILABLE"),
        (AuthenticationError("bad key"), "AUTHENTICATION_FAILED"),
        (RuntimeError("surprise"), "VERIFICATION_UNAVAILABLE"),
    ],
)
async def test_anything_but_allow_refuses(answer: Decision | Exception, code: str):
    """A deny, an unknown outcome, no answer, a refused key or any error is a refusal whose
    text gives the reason code."""
    verdict = await _gate(FakeClient([answer])).decide("refund", ORDER)
    assert isinstance(verdict, Refused) and verdict.reason_code == code
    assert f"reason_code: {code}" in verdict.text()


async def test_unrestricted_unmapped_and_unreadable_calls_never_reach_verify():
    """An unrestricted tool forwards and an unmapped tool or an unreadable argument refuses,
    all without a Verify."""
    client = FakeClient()
    gate = _gate(client)
    assert await gate.decide("search", {"q": "x"}) == Allowed(None)
    unmapped = await gate.decide("drop_tables", {})
    assert isinstance(unmapped, Refused) and unmapped.reason_code == "TOOL_NOT_MAPPED"
    assert "request_id: none" in unmapped.text()
    crafted = await gate.decide("refund", {**ORDER, "url": "https://coachella.com@evil.com/"})
    assert isinstance(crafted, Refused) and crafted.reason_code == "ARGUMENT_REJECTED"
    assert client.asked == []


async def test_an_approval_serves_the_exact_call_that_created_it_once():
    """REQUIRE_APPROVAL is remembered for the call; while pending no Verify is made; once
    approved the same call verifies with it and forgets it; another amount asks afresh."""
    client = FakeClient(
        [
            _decision("REQUIRE_APPROVAL", "APPROVAL_REQUIRED", "apr_1"),
            _decision("REQUIRE_APPROVAL", "APPROVAL_REQUIRED", "apr_2"),
            _decision("ALLOW", "APPROVAL_CONSUMED"),
            _decision("REQUIRE_APPROVAL", "APPROVAL_REQUIRED", "apr_3"),
        ]
    )
    gate = _gate(client)
    first = await gate.decide("refund", ORDER)
    assert isinstance(first, Refused) and first.approval_id == "apr_1"
    assert "approval_id: apr_1" in first.text() and "request_id: req_1" in first.text()
    client.approvals["apr_1"] = "PENDING"
    waiting = await gate.decide("refund", ORDER)
    assert isinstance(waiting, Refused) and waiting.reason_code == "APPROVAL_PENDING"
    assert len(client.asked) == 1
    client.approvals["apr_1"] = "APPROVED"
    more = await gate.decide("refund", {**ORDER, "amount": "30.00"})
    assert isinstance(more, Refused) and more.approval_id == "apr_2"
    assert client.asked[-1]["approval_id"] == ""
    assert isinstance(await gate.decide("refund", ORDER), Allowed)
    assert client.asked[-1]["approval_id"] == "apr_1"
    again = await gate.decide("refund", ORDER)
    assert isinstance(again, Refused) and again.approval_id == "apr_3"
    assert client.asked[-1]["approval_id"] == ""


@pytest.mark.parametrize("state", ["DENIED", "EXPIRED", "CONSUMED", None])
async def test_a_spent_or_refused_approval_is_forgotten(state: str | None):
    """An approval that was denied, expired, used or is unknown is dropped and the call asks
    Verify afresh, without it."""
    pending = PendingApprovals()
    pending.remember(call_fingerprint("refund", ORDER), "apr_old")
    client = FakeClient([_decision("REQUIRE_APPROVAL", "APPROVAL_REQUIRED", "apr_new")])
    if state:
        client.approvals["apr_old"] = state
    verdict = await _gate(client, pending).decide("refund", ORDER)
    assert isinstance(verdict, Refused) and verdict.approval_id == "apr_new"
    assert client.asked[-1]["approval_id"] == ""


async def test_an_unreadable_approval_refuses():
    """When the approval cannot be read, the call is refused rather than verified blind."""
    pending = PendingApprovals()
    pending.remember(call_fingerprint("refund", ORDER), "apr_1")

    class Down(FakeClient):
        async def get_approval(self, approval_id: str) -> Approval:
            raise VerificationUnavailable("GetApproval failed (UNAVAILABLE)")

    client = Down()
    verdict = await _gate(client, pending).decide("refund", ORDER)
    assert isinstance(verdict, Refused) and verdict.reason_code == "VERIFICATION_UNAVAILABLE"
    assert client.asked == []


async def test_visible_hides_tools_the_agent_may_never_call():
    """Unrestricted tools show; mapped ones show unless a test-mode check says no permission
    (or fails); unmapped ones never show."""
    client = FakeClient(checks={"delete_records": "NO_PERMISSION"})
    shown = await _gate(client).visible(["search", "refund", "wipe", "drop_tables"])
    assert shown == {"search", "refund"}
    client.checks["issue_refund"] = "boom"
    assert await _gate(client).visible(["refund"]) == set()


def test_fingerprints_bind_every_argument():
    """Any change to the tool or an argument changes the fingerprint; key order does not."""
    base = call_fingerprint("refund", {"a": 1, "b": "x"})
    assert base == call_fingerprint("refund", {"b": "x", "a": 1})
    assert base != call_fingerprint("refund", {"a": 1, "b": "y"})
    assert base != call_fingerprint("refund", {"a": 1.0, "b": "x"})
    assert base != call_fingerprint("refunds", {"a": 1, "b": "x"})
    assert call_fingerprint("t", {"n": float("nan")}) == call_fingerprint("t", {"n": float("nan")})


def test_pending_approvals_are_bounded():
    """Beyond its capacity the oldest remembered approval is dropped first."""
    pending = PendingApprovals(capacity=2)
    for index in range(3):
        pending.remember(f"f{index}", f"apr_{index}")
    assert len(pending) == 2 and pending.get("f0") == "" and pending.get("f2") == "apr_2"
    pending.forget("f2", "apr_other")
    assert pending.get("f2") == "apr_2"
