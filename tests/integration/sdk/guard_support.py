"""Helpers of the framework-guard tests: a purchase tool that records its calls, agents with the
seed's grant, approvals resolved by an admin, and a client whose verifier is down."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

from behalf import AsyncBehalf, Behalf
from behalf.v1 import registry_pb2
from tests.harness.stack import Stack, Tenant

# What the model tries to get past a guard limited to coachella.com and 800.00 USD (a bigger
# amount, another host that starts like the vendor, URLs with userinfo, no amount at all, amounts
# the money rules refuse), and the reason code each one gets.
CRAFTED = [
    ({"vendor": "coachella.com", "amount": "800.01"}, "AMOUNT_EXCEEDS_LIMIT"),
    ({"vendor": "coachella.com", "amount": "1e9"}, "INVALID_REQUEST"),  # not a plain decimal
    ({"vendor": "coachella.com", "amount": "1.500"}, "INVALID_REQUEST"),  # 1500 in de-DE
    ({"vendor": "coachella.com.evil.com", "amount": "10.00"}, "RESOURCE_NOT_ALLOWED"),
    ({"vendor": "https://coachella.com@evil.com/", "amount": "10.00"}, "INVALID_REQUEST"),
    ({"vendor": "https://user:pw@coachella.com/", "amount": "10.00"}, "INVALID_REQUEST"),
    ({"vendor": "coachella.com"}, "INVALID_REQUEST"),  # currency given without an amount
    ({"vendor": "coachella.com", "amount": "-5.00"}, "INVALID_REQUEST"),
    ({"vendor": "coachella.com", "amount": "799.999"}, "INVALID_REQUEST"),
]


@dataclass
class Purchases:
    """The body of the purchase tool: it records every call that reached it."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def buy(self, vendor: str, amount: str | None = None) -> str:
        self.calls.append({"vendor": vendor, "amount": amount})
        return f"bought tickets from {vendor} for {amount} USD"


def guard_options(agent_id: str, revision: int) -> dict[str, Any]:
    """The mapping under test: vendor and amount from the tool's arguments, in USD."""
    return {
        "agent_id": agent_id,
        "action": "purchase",
        "resource": lambda vendor, **_: vendor,
        "amount": lambda amount=None, **_: amount,
        "currency": "USD",
        "min_revision": revision,
    }


def buyer(stack: Stack, tenant: Tenant, **grant: object) -> tuple[str, int]:
    """A new agent with the seed's grant (purchase on coachella.com up to 800.00 USD)."""
    agent_id, granted = stack.agent_with_grant(tenant, **grant)
    return agent_id, granted.revision


def approve(stack: Stack, tenant: Tenant, approval_id: str, *, approve: bool = True) -> None:
    """An admin resolves the approval."""
    stack.registry_stub().ResolveApproval(
        registry_pb2.ResolveApprovalRequest(
            approval_id=approval_id, approve=approve, resolved_by="guard-test"
        ),
        metadata=tenant.admin,
        timeout=10,
    )


def async_client(stack: Stack, tenant: Tenant) -> AsyncBehalf:
    return AsyncBehalf(
        tenant.verify_key,
        target=stack.verifiers[0].target,
        registry_target=stack.registry.target,
        timeout=5,
    )


def blocking_client(stack: Stack, tenant: Tenant) -> Behalf:
    return Behalf(
        tenant.verify_key,
        target=stack.verifiers[0].target,
        registry_target=stack.registry.target,
        timeout=5,
    )


def down_client(tenant: Tenant) -> AsyncBehalf:
    """A client whose verifier is not listening."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = f"127.0.0.1:{port}"
    return AsyncBehalf(
        tenant.verify_key, target=target, registry_target=target, timeout=1, retries=0
    )


def fields(text: str) -> dict[str, str]:
    """The `key: value` lines of a refusal's text."""
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
