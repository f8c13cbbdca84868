"""`guard` runs the wrapped code only after an explicit allow: never on a deny, an approval
requirement, a test-mode decision, an unavailable verifier, or a failing argument callable."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import grpc
import pytest

from behalf import (
    ActionDenied,
    ApprovalRequired,
    AsyncBehalf,
    Behalf,
    BehalfError,
    Decision,
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


class LaxVerifier:
    """A verifier that returns whatever was decided instead of raising (a wrapper around
    `check()`, a caching proxy): it satisfies `AsyncVerifier`, and authorizes nothing by that."""

    def __init__(self, outcome: str, *, test_mode: bool = False, answers: str = "") -> None:
        self.outcome, self.test_mode, self.answers = outcome, test_mode, answers
        self.request_ids: list[str] = []

    async def verify(self, agent_id: str, action: str, *args: Any, **options: Any) -> Decision:
        self.request_ids.append(options.get("request_id") or "")
        return Decision(
            request_id=self.answers or options.get("request_id") or "",
            outcome=self.outcome,
            reason_code="",
            reason="",
            risk="",
            test_mode=self.test_mode,
        )


class LaxBlockingVerifier(LaxVerifier):
    """The blocking shape of `LaxVerifier` (`verify` and `averify`)."""

    def verify(self, agent_id: str, action: str, *args: Any, **options: Any) -> Decision:  # type: ignore[override]
        return asyncio.run(LaxVerifier.verify(self, agent_id, action, *args, **options))

    async def averify(self, agent_id: str, action: str, *args: Any, **options: Any) -> Decision:
        return await LaxVerifier.verify(self, agent_id, action, *args, **options)


LAX = [
    (LaxVerifier("DENY"), ActionDenied),
    (LaxVerifier("REQUIRE_APPROVAL"), ApprovalRequired),
    (LaxVerifier("UNSPECIFIED"), ActionDenied),
    (LaxVerifier("ALLOW", test_mode=True), TestModeDecision),
    (LaxVerifier("ALLOW", answers="req_someone_else"), VerificationUnavailable),
]


@pytest.mark.parametrize(("verifier", "error"), LAX)
async def test_a_lax_verifier_never_runs_the_guarded_code(verifier: LaxVerifier, error) -> None:
    """Whatever verifier object it was given, the guard checks the decision itself: anything
    but an explicit, non-test ALLOW for the request it sent raises, and neither the decorated
    function nor the `async with` block runs."""
    ran: list[str] = []

    @guard(verifier, agent_id="agt_1", action="purchase", amount="10.00", currency="USD")
    async def charge() -> None:
        ran.append("decorated")

    with pytest.raises(error):
        await charge()
    with pytest.raises(error):
        async with guard(verifier, agent_id="agt_1", action="purchase"):
            ran.append("block")
    assert ran == []


@pytest.mark.parametrize(
    ("outcome", "test_mode", "error"),
    [("DENY", False, ActionDenied), ("ALLOW", True, TestModeDecision)],
)
def test_a_lax_blocking_verifier_never_runs_the_guarded_code(outcome, test_mode, error) -> None:
    """The same for sync code and a blocking verifier: the decorator and `with`."""
    verifier = LaxBlockingVerifier(outcome, test_mode=test_mode)
    ran: list[str] = []

    @guard(verifier, agent_id="agt_1", action="purchase")
    def charge() -> None:
        ran.append("decorated")

    with pytest.raises(error):
        charge()
    with pytest.raises(error):
        with guard(verifier, agent_id="agt_1", action="purchase"):
            ran.append("block")
    assert ran == []


async def test_a_lax_verifier_answering_allow_runs_the_code() -> None:
    """An explicit ALLOW for the very request sent does run it (the check is not a blanket
    refusal of protocol-conforming verifiers)."""
    verifier = LaxVerifier("ALLOW")

    @guard(verifier, agent_id="agt_1", action="purchase")
    async def charge() -> str:
        return "charged"

    assert await charge() == "charged"


async def test_every_guarded_call_sends_a_fresh_request_id() -> None:
    """Two identical calls are two requests: each Verify carries its own new request id."""
    verifier = LaxVerifier("ALLOW")

    @guard(verifier, agent_id="agt_1", action="purchase", amount="10.00", currency="USD")
    async def charge(order_ref: str) -> None: ...

    await charge("a1")
    await charge("a1")
    first, second = verifier.request_ids
    assert first.startswith("req_") and second.startswith("req_") and first != second


def test_request_id_is_not_a_guard_option() -> None:
    """A guard has no `request_id` option (an id derived from the arguments, or a fixed one,
    would let identical calls share one decision): `guard(...)` and `client.guard(...)` raise
    TypeError naming `context` for correlation ids."""
    client = AsyncBehalf("k", target="127.0.0.1:1")
    for request_id in ("req_fixed", lambda order_ref: f"req_{order_ref}"):
        with pytest.raises(TypeError, match="context"):
            guard(client, agent_id="a", action="purchase", request_id=request_id)
        with pytest.raises(TypeError, match="context"):
            client.guard(agent_id="a", action="purchase", request_id=request_id)
