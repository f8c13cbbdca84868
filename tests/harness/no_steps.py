"""Stateful steps for a decision that must never need the registry's (budgets, approvals)."""

from __future__ import annotations


class NoSteps:
    """Every step fails the test: the decision under test was to be decided without one."""

    async def reserve_budget(self, *_args: object) -> str | None:
        raise AssertionError("not expected")

    async def check_budget(self, *_args: object) -> bool:
        raise AssertionError("not expected")

    async def release_budget(self, *_args: object) -> None:
        raise AssertionError("not expected")

    async def create_approval(self, *_args: object) -> str:
        raise AssertionError("not expected")

    async def consume_approval(self, *_args: object) -> bool:
        raise AssertionError("not expected")
