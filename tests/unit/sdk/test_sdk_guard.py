"""`guard` runs the wrapped code only after an explicit allow: never on a deny, an approval
requirement, a test-mode decision, an unavailable verifier, or a failing argument callable."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal

import grpc
import pytest

from behalf import (
    ActionDenied,
    ApprovalRequired,
    AsyncBehalf,
    Behalf,
    BehalfError,
    TestModeDecision,
    VerificationUnavailable,
    guard,
)
from tests.unit.sdk.fake_server import Fake, decision

NOT_ALLOWED = [
    (decision("DENY", "AMOUNT_EXCEEDS_LIMIT"), ActionDenied),
    (decision("REQUIRE_APPROVAL", "APPROVAL_REQUIRED", approval_id="apr_1"), ApprovalRequired),
    (grpc.StatusCode.UNAVAILABLE, VerificationUnavailable),
    (grpc.StatusCode.DEADLINE_EXCEEDED, VerificationUnavailable),
    (decision("ALLOW", test_mode=True), TestModeDecision),
    (decision("REQUIRE_APPROVAL", "APPROVAL_REQUIRED", test_mode=True), TestModeDecision),
]


@dataclass
class Order:
    vendor: str
    total: Decimal


def _client(fake: Fake) -> AsyncBehalf:
    return AsyncBehalf("k", target=fake.target, registry_target=fake.target, retries=0)


@pytest.mark.parametrize(("step", "error"), NOT_ALLOWED)
async def test_async_function_never_runs_unless_allowed(fake: Fake, step, error) -> None:
    """Deny, approval, a test-mode decision and unavailability raise before the async
    function body runs."""
    fake.script(step)
    charged: list[Order] = []
    client = _client(fake)

    @guard(
        client,
        agent_id="agt_1",
        action="purchase",
        resource=lambda o: o.vendor,
        amount=lambda o: o.total,
        currency="USD",
    )
    async def charge(order: Order) -> str:
        charged.append(order)
        return "charged"

    with pytest.raises(error):
        await charge(Order("coachella.com", Decimal("800.01")))
    assert charged == []
    await client.close()


async def test_async_function_runs_on_allow_with_resolved_arguments(fake: Fake) -> None:
    """On ALLOW the function runs and the request carries the resolved resource and amount."""
    fake.script(decision("ALLOW"))
    client = _client(fake)

    @client.guard(
        agent_id="agt_1",
        action="purchase",
        resource=lambda o: o.vendor,
        amount=lambda o: o.total,
        currency="USD",
    )
    async def charge(order: Order) -> str:
        return "charged"

    assert await charge(Order("coachella.com", Decimal("799.99"))) == "charged"
    sent = fake.requests[-1]
    assert (sent.resource, sent.amount.amount_minor) == ("coachella.com", 79999)
    await client.close()


@pytest.mark.parametrize(("step", "error"), NOT_ALLOWED)
async def test_sync_function_never_runs_unless_allowed(fake: Fake, step, error) -> None:
    """The same for a sync function guarded with the blocking client."""
    fake.script(step)
    charged: list[int] = []

    def run() -> None:
        with Behalf("k", target=fake.target, registry_target=fake.target, retries=0) as client:

            @client.guard(agent_id="agt_1", action="purchase", amount=lambda n: n, currency="USD")
            def charge(cents: int) -> None:
                charged.append(cents)

            with pytest.raises(error):
                charge(80001)

    await asyncio.to_thread(run)
    assert charged == []


async def test_async_context_manager_raises_on_entry(fake: Fake) -> None:
    """`async with guard(...)` raises on deny before the block runs, yields the allow."""
    client = _client(fake)
    entered = []
    fake.script(decision("DENY", "NO_PERMISSION"))
    with pytest.raises(ActionDenied):
        async with guard(client, agent_id="agt_1", action="send_email"):
            entered.append(True)
    assert entered == []
    fake.script(decision("ALLOW"))
    async with guard(client, agent_id="agt_1", action="send_email") as allowed:
        entered.append(allowed.outcome)
    assert entered == ["ALLOW"]
    await client.close()


async def test_failing_argument_callable_blocks_the_call(fake: Fake) -> None:
    """If an argument callable raises, neither Verify nor the function runs."""
    fake.script(decision("ALLOW"))
    client = _client(fake)
    ran = []

    @guard(client, agent_id="agt_1", action="purchase", amount=lambda o: o.missing, currency="USD")
    async def charge(order: object) -> None:
        ran.append(order)

    with pytest.raises(AttributeError):
        await charge(object())
    assert ran == [] and fake.requests == []
    await client.close()


async def test_float_amount_blocks_the_call(fake: Fake) -> None:
    """A float amount from the callable is a TypeError, and the function does not run."""
    fake.script(decision("ALLOW"))
    client = _client(fake)
    ran = []

    @guard(client, agent_id="agt_1", action="purchase", amount=lambda: 799.99, currency="USD")
    async def charge() -> None:
        ran.append(True)

    with pytest.raises(TypeError):
        await charge()
    assert ran == []
    await client.close()


def test_sync_function_with_async_client_is_refused_at_decoration() -> None:
    """Guarding a sync function with AsyncBehalf is a TypeError up front, not a silent skip."""
    client = AsyncBehalf("k", target="127.0.0.1:1")
    with pytest.raises(TypeError):

        @guard(client, agent_id="agt_1", action="purchase")
        def charge() -> None: ...


def test_unknown_options_and_clients_are_refused() -> None:
    """Typos in options and non-clients fail loudly."""
    client = AsyncBehalf("k", target="127.0.0.1:1")
    with pytest.raises(TypeError):
        guard(client, agent_id="a", action="b", ammount=1)
    with pytest.raises(TypeError):
        guard(object(), agent_id="a", action="b")  # type: ignore[arg-type]
    assert issubclass(VerificationUnavailable, BehalfError)
