"""Stateful steps for test-mode decisions: budgets are read, never spent; nothing is created."""

from __future__ import annotations

from typing import Protocol

from behalf.verifier.engine import VerifyInput
from behalf.verifier.snapshot import Money


class BudgetReader(Protocol):
    """Reads whether an amount fits a budget now (the registry's CheckBudget)."""

    async def check_budget(
        self, request: VerifyInput, permission_id: str, amount: Money
    ) -> bool: ...


class DryRunSteps:
    """`StatefulSteps` with no side effects, for test-mode decisions.

    A budget is checked against what is left now, read-only: a spend past it is
    BUDGET_EXHAUSTED, and nothing is reserved. No approval is created (REQUIRE_APPROVAL comes
    back without an id), and none is consumed (a test can never spend a human's approval).
    Request ids are not claimed: a test decision binds nothing.
    """

    def __init__(self, budgets: BudgetReader) -> None:
        self._budgets = budgets

    async def reserve_budget(
        self, request: VerifyInput, permission_id: str, amount: Money
    ) -> str | None:
        """The empty claim when it fits (nothing is held), None when it does not."""
        return "" if await self.check_budget(request, permission_id, amount) else None

    async def check_budget(self, request: VerifyInput, permission_id: str, amount: Money) -> bool:
        return await self._budgets.check_budget(request, permission_id, amount)

    async def release_budget(self, request: VerifyInput, permission_id: str, claim: str) -> None:
        pass  # nothing was held

    async def create_approval(self, request: VerifyInput, permission_id: str) -> str:
        return ""

    async def consume_approval(
        self, request: VerifyInput, permission_id: str, approval_id: str
    ) -> bool:
        return False
