"""Stateful steps for test-mode decisions: nothing is reserved, created or consumed."""

from __future__ import annotations

from behalf.verifier.engine import VerifyInput
from behalf.verifier.snapshot import Money


class DryRunSteps:
    """`StatefulSteps` with no side effects, for manual test links.

    A budget is assumed to fit (the decision says what the policy allows, not what is left),
    no approval is created (REQUIRE_APPROVAL comes back without an id), and no approval is
    consumed (a test can never spend a real human's approval).
    """

    async def reserve_budget(self, request: VerifyInput, permission_id: str, amount: Money) -> bool:
        return True

    async def create_approval(self, request: VerifyInput, permission_id: str) -> str:
        return ""

    async def consume_approval(self, request: VerifyInput, approval_id: str) -> bool:
        return False
