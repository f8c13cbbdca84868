"""The clients against a scripted in-process server: outcomes and statuses become results or
the right exceptions, retries keep the request id, deadlines hold, nothing fails open."""

from __future__ import annotations

import asyncio
import socket
import time
from decimal import Decimal

import grpc
import pytest

from behalf import (
    ActionDenied,
    ApprovalRejected,
    ApprovalRequired,
    ApprovalTimeout,
    AsyncBehalf,
    AuthenticationError,
    Behalf,
    Decision,
    InvalidRequest,
    Money,
    NotFound,
    VerificationUnavailable,
)
from behalf._status import map_rpc_error
from behalf.v1 import resources_pb2
from tests.unit.sdk.fake_server import Fake, decision


def _client(fake: Fake, **options) -> AsyncBehalf:
    options.setdefault("timeout", 1.0)
    return AsyncBehalf("bhk_test", target=fake.target, registry_target=fake.target, **options)


async def test_allow_returns_a_frozen_decision(fake: Fake) -> None:
    """An ALLOW returns a Decision dataclass with prefix-free names, and sends the key."""
    fake.script(decision("ALLOW", risk=2, permission_id="prm_1", policy_revision=7))
    async with _client(fake) as client:
        result = await client.verify("agt_1", "purchase", resource="coachella.com")
    assert isinstance(result, Decision)
    assert (result.outcome, result.reason_code, result.risk) == ("ALLOW", "ALLOWED", "MEDIUM")
    assert result.permission_id == "prm_1" and result.policy_revision == 7
    assert fake.metadata[-1]["authorization"] == "Bearer bhk_test"
    with pytest.raises(AttributeError):
        result.outcome = "DENY"  # type: ignore[misc]


async def test_amount_is_sent_in_exact_minor_units(fake: Fake) -> None:
    """ "799.99" USD travels as 79999 cents; a request id is always generated."""
    fake.script(decision("ALLOW"), decision("ALLOW"))
    async with _client(fake) as client:
        await client.verify("agt_1", "purchase", amount="799.99", currency="usd")
        await client.verify("agt_1", "purchase", amount=Money.of(Decimal("5"), "JPY"))
    first, second = fake.requests
    assert (first.amount.amount_minor, first.amount.currency) == (79999, "USD")
    assert (second.amount.amount_minor, second.amount.currency) == (5, "JPY")
    assert first.request_id.startswith("req_") and first.request_id != second.request_id


async def test_deny_raises_action_denied_with_the_decision(fake: Fake) -> None:
    """A DENY raises ActionDenied carrying reason code, reason, risk, request id, revision."""
    fake.script(
        decision(
            "DENY",
            "AMOUNT_EXCEEDS_LIMIT",
            reason_text="over 800.00 USD",
            risk=3,
            request_id="req_9",
            policy_revision=12,
        )
    )
    async with _client(fake) as client:
        with pytest.raises(ActionDenied) as caught:
            await client.verify(
                "agt_1", "purchase", amount=80001, currency="USD", request_id="req_9"
            )
    error = caught.value
    assert error.reason_code == "AMOUNT_EXCEEDS_LIMIT"
    assert error.reason == "over 800.00 USD"
    assert (error.risk, error.request_id, error.policy_revision) == ("HIGH", "req_9", 12)
    assert not error.transient


async def test_stale_policy_deny_is_marked_transient(fake: Fake) -> None:
    """A STALE_POLICY deny still raises, but says trying later may help."""
    fake.script(decision("DENY", "STALE_POLICY"))
    async with _client(fake) as client:
        with pytest.raises(ActionDenied) as caught:
            await client.verify("agt_1", "purchase")
    assert caught.value.transient


async def test_unspecified_outcome_is_a_deny(fake: Fake) -> None:
    """An UNSPECIFIED outcome never allows."""
    fake.script(decision("UNSPECIFIED", "UNSPECIFIED"))
    async with _client(fake) as client:
        with pytest.raises(ActionDenied):
            await client.verify("agt_1", "purchase")


async def test_approval_required_then_wait_returns_the_approved_approval(fake: Fake) -> None:
    """REQUIRE_APPROVAL raises ApprovalRequired; wait_for_approval polls until APPROVED."""
    fake.script(decision("REQUIRE_APPROVAL", "APPROVAL_REQUIRED", approval_id="apr_1"))
    fake.approval_states[:] = [
        resources_pb2.APPROVAL_STATE_PENDING,
        resources_pb2.APPROVAL_STATE_APPROVED,
    ]
    async with _client(fake) as client:
        with pytest.raises(ApprovalRequired) as caught:
            await client.verify("agt_1", "issue_refund")
        assert caught.value.approval_id == "apr_1"
        approval = await caught.value.wait_for_approval(timeout=5, poll_interval=0.01)
    assert (approval.approval_id, approval.state) == ("apr_1", "APPROVED")


async def test_wait_for_approval_raises_on_denied_and_on_timeout(fake: Fake) -> None:
    """A denied approval raises ApprovalRejected; one still pending raises ApprovalTimeout."""
    async with _client(fake) as client:
        fake.approval_states[:] = [resources_pb2.APPROVAL_STATE_DENIED]
        with pytest.raises(ApprovalRejected):
            await client.wait_for_approval("apr_1", timeout=2, poll_interval=0.01)
        fake.approval_states[:] = [resources_pb2.APPROVAL_STATE_PENDING]
        started = time.monotonic()
        with pytest.raises(ApprovalTimeout):
            await client.wait_for_approval("apr_1", timeout=0.2, poll_interval=0.05)
        assert time.monotonic() - started < 1.5


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidRequest),
        (grpc.StatusCode.UNAUTHENTICATED, AuthenticationError),
        (grpc.StatusCode.PERMISSION_DENIED, AuthenticationError),
        (grpc.StatusCode.INTERNAL, VerificationUnavailable),
        (grpc.StatusCode.UNKNOWN, VerificationUnavailable),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, VerificationUnavailable),
    ],
)
async def test_statuses_map_to_exceptions_without_retry(fake: Fake, status, error) -> None:
    """Each non-UNAVAILABLE status maps to its exception after exactly one attempt."""
    fake.script(status, decision("ALLOW"))
    async with _client(fake) as client:
        with pytest.raises(error) as caught:
            await client.verify("agt_1", "purchase")
    assert caught.value.code == status.name
    assert len(fake.requests) == 1
    if error is InvalidRequest:
        assert caught.value.field == "agent_id"


async def test_unavailable_is_retried_with_the_same_request_id(fake: Fake) -> None:
    """UNAVAILABLE twice then ALLOW: three attempts, one request id, and the allow returns."""
    fake.script(grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE, decision("ALLOW"))
    async with _client(fake, retries=2) as client:
        await client.verify("agt_1", "purchase", request_id="req_mine")
    assert [r.request_id for r in fake.requests] == ["req_mine"] * 3


async def test_unavailable_past_the_retries_fails_closed(fake: Fake) -> None:
    """UNAVAILABLE on every attempt raises VerificationUnavailable, never an allow."""
    fake.script(*[grpc.StatusCode.UNAVAILABLE] * 3, decision("ALLOW"))
    async with _client(fake, retries=2) as client:
        with pytest.raises(VerificationUnavailable):
            await client.verify("agt_1", "purchase")
    assert len(fake.requests) == 3


async def test_slow_verifier_raises_within_the_deadline(fake: Fake) -> None:
    """A reply slower than the deadline raises VerificationUnavailable at the deadline."""
    fake.script((1.0, decision("ALLOW")))
    async with _client(fake, timeout=0.2) as client:
        started = time.monotonic()
        with pytest.raises(VerificationUnavailable) as caught:
            await client.verify("agt_1", "purchase")
    assert time.monotonic() - started < 0.8
    assert caught.value.code == "DEADLINE_EXCEEDED"
    await asyncio.sleep(0.9)  # let the slow handler finish before the next test


async def test_nothing_listening_raises_within_the_deadline() -> None:
    """No server at the target: VerificationUnavailable within the deadline."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with AsyncBehalf("k", target=f"127.0.0.1:{port}", timeout=0.5) as client:
        started = time.monotonic()
        with pytest.raises(VerificationUnavailable):
            await client.verify("agt_1", "purchase")
    assert time.monotonic() - started < 1.5


async def test_bad_input_is_caught_before_sending(fake: Fake) -> None:
    """Floats, amounts without currency and empty ids never reach the server."""
    fake.script()
    async with _client(fake) as client:
        with pytest.raises(TypeError):
            await client.verify("agt_1", "purchase", amount=799.99, currency="USD")  # type: ignore[arg-type]
        with pytest.raises(InvalidRequest) as caught:
            await client.verify("agt_1", "purchase", amount="1.00")
        assert caught.value.field == "currency"
        with pytest.raises(InvalidRequest):
            await client.verify("", "purchase")
    assert fake.requests == []


def test_missing_api_key_is_an_authentication_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without api_key or BEHALF_API_KEY the client refuses to start."""
    monkeypatch.delenv("BEHALF_API_KEY", raising=False)
    with pytest.raises(AuthenticationError):
        AsyncBehalf()


def test_map_rpc_error_covers_not_found() -> None:
    """NOT_FOUND maps to NotFound, keeping the server's message."""

    class _Error(grpc.RpcError):
        def code(self):
            return grpc.StatusCode.NOT_FOUND

        def details(self):
            return "agent agt_x not found"

    error = map_rpc_error(_Error())
    assert isinstance(error, NotFound) and error.message == "agent agt_x not found"


async def test_sync_client_allows_denies_and_waits(fake: Fake) -> None:
    """The blocking client returns allows, raises denies, and its ApprovalRequired can wait."""
    fake.script(
        decision("ALLOW"),
        decision("DENY", "NO_PERMISSION"),
        decision("REQUIRE_APPROVAL", "APPROVAL_REQUIRED", approval_id="apr_2"),
    )
    fake.approval_states[:] = [resources_pb2.APPROVAL_STATE_APPROVED]

    def run() -> str:
        with Behalf("bhk_test", target=fake.target, registry_target=fake.target) as client:
            assert client.verify("agt_1", "purchase").allowed
            with pytest.raises(ActionDenied):
                client.verify("agt_1", "purchase")
            with pytest.raises(ApprovalRequired) as caught:
                client.verify("agt_1", "purchase")
            return caught.value.wait_for_approval_sync(timeout=2, poll_interval=0.01).state

    assert await asyncio.to_thread(run) == "APPROVED"


async def test_an_allow_for_another_request_authorizes_nothing(fake: Fake) -> None:
    """A misrouted, cached or replayed ALLOW (another request id, or none) is no answer to
    this request: verify() and check() raise VerificationUnavailable."""
    for answered in ("req_someone_else", "req_"):
        fake.script(decision("ALLOW", request_id=answered))
        async with _client(fake) as client:
            with pytest.raises(VerificationUnavailable, match="another request"):
                await client.verify("agt_1", "purchase", request_id="req_mine")
    fake.script(decision("ALLOW", request_id="req_someone_else", test_mode=True))
    async with _client(fake) as client:
        with pytest.raises(VerificationUnavailable):
            await client.check("agt_1", "purchase", request_id="req_mine")
