"""The framework tool guards: a remembered approval serves exactly the
call it was created for."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from behalf import Decision
from behalf.guards._core import Refusal, ToolGuard


@dataclass
class FakeVerifier:
    """An asyncio verifier: REQUIRE_APPROVAL first, ALLOW afterwards; approvals are APPROVED."""

    asked: list[dict[str, Any]] = field(default_factory=list)

    async def verify(self, agent_id: str, action: str, **options: Any) -> Decision:
        self.asked.append(options)
        if len(self.asked) == 1:
            return Decision(
                options["request_id"],
                "REQUIRE_APPROVAL",
                "APPROVAL_REQUIRED",
                "ask",
                "HIGH",
                approval_id="apr_1",
            )
        return Decision(options["request_id"], "ALLOW", "ALLOWED", "ok", "LOW")

    async def get_approval(self, approval_id: str) -> Any:
        @dataclass
        class _Approval:
            state: str = "APPROVED"

        return _Approval()


async def test_an_approval_is_not_reused_for_a_call_whose_argument_only_reprs_the_same():
    """Attack: the OpenAI Agents guard parses fractions as Decimal, and `_call_key` hashes
    arguments with `json.dumps(default=repr)`, so {"note": 1.5} (a Decimal) and
    {"note": "Decimal('1.5')"} (a string) are "the same call". After a human approves the
    first, the agent sends the second and it runs on the first one's approval."""
    fake = FakeVerifier()
    guard = ToolGuard(
        fake,
        agent_id="agt_1",
        action="purchase",
        resource=lambda vendor, **_: vendor,
        amount=lambda amount, **_: amount,
        currency="USD",
        unchecked_arguments=["note"],
    )
    ran: list[str] = []

    async def body() -> str:
        ran.append("ran")
        return "ran"

    first = {"vendor": "coachella.com", "amount": "10.00", "note": Decimal("1.5")}
    refusal = await guard.arun(first, body)
    assert isinstance(refusal, Refusal) and refusal.approval_id == "apr_1"
    other = {"vendor": "coachella.com", "amount": "10.00", "note": "Decimal('1.5')"}
    await guard.arun(other, body)
    assert fake.asked[-1].get("approval_id", "") == "", "another call used apr_1"
