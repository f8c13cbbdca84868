"""Test mode authorizes nothing: `verify` raises on any test-mode decision, `check` asks in test
mode and returns the decision whatever its outcome."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from behalf import (
    ActionDenied,
    AsyncBehalf,
    AuthenticationError,
    Behalf,
    TestModeDecision,
    VerificationUnavailable,
)
from tests.unit.sdk.fake_server import Fake, decision


def _client(fake: Fake) -> AsyncBehalf:
    return AsyncBehalf("bhk_test", target=fake.target, registry_target=fake.target, timeout=1.0)


@pytest.mark.parametrize(
    "step",
    [
        decision("ALLOW", test_mode=True),
        decision("DENY", "BUDGET_EXHAUSTED", test_mode=True),
        decision("REQUIRE_APPROVAL", "APPROVAL_REQUIRED", test_mode=True),
    ],
)
async def test_verify_raises_on_a_test_mode_decision(fake: Fake, step) -> None:
    """A test-mode decision, even an ALLOW, raises TestModeDecision, an ActionDenied."""
    fake.script(step)
    async with _client(fake) as client:
        with pytest.raises(TestModeDecision) as caught:
            await client.verify("agt_1", "purchase", request_id="req_t")
    error = caught.value
    assert isinstance(error, ActionDenied)
    assert error.decision.test_mode and not error.decision.allowed
    assert not error.transient
    assert "check()" in str(error)
    assert fake.requests[-1].test_mode is False


async def test_verify_never_asks_in_test_mode(fake: Fake) -> None:
    """`verify` has no test-mode option: asking for one fails before anything is sent."""
    fake.script(decision("ALLOW"))
    async with _client(fake) as client:
        with pytest.raises(TypeError):
            await client.verify("agt_1", "purchase", test_mode=True)  # type: ignore[call-arg]
    assert fake.requests == []


async def test_check_sends_test_mode_and_returns_every_outcome(fake: Fake) -> None:
    """`check` sets test_mode on the request and returns ALLOW, DENY and REQUIRE_APPROVAL
    decisions without raising."""
    fake.script(
        decision("ALLOW", test_mode=True),
        decision("DENY", "BUDGET_EXHAUSTED", test_mode=True),
        decision("REQUIRE_APPROVAL", "APPROVAL_REQUIRED", test_mode=True),
    )
    async with _client(fake) as client:
        results = [
            await client.check("agt_1", "purchase", amount="10.00", currency="USD")
            for _ in range(3)
        ]
    assert [r.outcome for r in results] == ["ALLOW", "DENY", "REQUIRE_APPROVAL"]
    assert results[1].reason_code == "BUDGET_EXHAUSTED"
    assert all(r.test_mode and not r.allowed for r in results)
    assert all(request.test_mode for request in fake.requests)
    assert fake.requests[0].amount.amount_minor == 1000


async def test_check_refuses_an_answer_not_marked_as_a_test(fake: Fake) -> None:
    """A verifier that ignored test mode gave no trustworthy answer to `check`."""
    fake.script(decision("ALLOW"))
    async with _client(fake) as client:
        with pytest.raises(VerificationUnavailable):
            await client.check("agt_1", "purchase")


async def test_check_still_raises_when_there_is_no_answer(fake: Fake) -> None:
    """A refused key raises from `check` as from `verify`."""
    fake.script(grpc.StatusCode.PERMISSION_DENIED)
    async with _client(fake) as client:
        with pytest.raises(AuthenticationError):
            await client.check("agt_1", "purchase")


async def test_blocking_client_verify_raises_and_check_returns(fake: Fake) -> None:
    """The blocking client: `verify` raises TestModeDecision, `check` returns the decision."""
    fake.script(decision("ALLOW", test_mode=True), decision("ALLOW", test_mode=True))

    def run() -> tuple[type[BaseException] | None, str]:
        with Behalf("k", target=fake.target, registry_target=fake.target) as client:
            try:
                client.verify("agt_1", "purchase")
                raised = None
            except TestModeDecision as exc:
                raised = type(exc)
            return raised, client.check("agt_1", "purchase").outcome

    raised, outcome = await asyncio.to_thread(run)
    assert raised is TestModeDecision
    assert outcome == "ALLOW"
