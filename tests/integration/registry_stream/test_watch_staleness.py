"""Revocations reaching a real verifier (PolicyWatcher) over the real WatchPolicy stream of a
real registry watch hub on a real PostgreSQL, when the deltas arrive late: the verifier must
not ALLOW a disabled agent beyond what the staleness bound promises.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from behalf.registry.watch import WatchHub
from behalf.v1 import internal_pb2, internal_pb2_grpc
from behalf.verifier.engine import VerifyInput, decide
from behalf.verifier.outcomes import Outcome, ReasonCode
from behalf.verifier.policy_watch import PolicyWatcher
from behalf.verifier.snapshot import Money
from tests.harness.no_steps import NoSteps
from tests.integration.registry_stream.stream_support import (
    Database,
    create_agent,
    create_tenant,
    grant,
    set_disabled,
    watch_server,
)

pytestmark = pytest.mark.integration


Pace = Callable[[int, internal_pb2.WatchPolicyResponse], float]


class _PacedCall:
    """A WatchPolicy call whose messages reach the verifier `pace(call, message)` seconds late
    each (a slow link, or a verifier whose event loop is busy with Verify traffic)."""

    def __init__(self, call: object, number: int, pace: Pace, arrived: asyncio.Event) -> None:
        self._call = call
        self._number = number
        self._pace = pace
        self._arrived = arrived

    def __aiter__(self) -> AsyncIterator[internal_pb2.WatchPolicyResponse]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[internal_pb2.WatchPolicyResponse]:
        async for message in self._call:  # type: ignore[attr-defined]
            self._arrived.set()
            delay = self._pace(self._number, message)
            if delay:
                await asyncio.sleep(delay)
            yield message

    def cancel(self) -> None:
        self._call.cancel()  # type: ignore[attr-defined]


class RoutedStub:
    """The verifier's stub: call n goes to `targets[min(n, len - 1)]` (a Service in front of
    registry replicas), paced by `pace`."""

    def __init__(self, targets: list[str], pace: Pace) -> None:
        self.channels = [grpc.aio.insecure_channel(t) for t in targets]
        self.stubs = [internal_pb2_grpc.RegistryInternalServiceStub(c) for c in self.channels]
        self.pace = pace
        self.calls = 0
        self.first_message = asyncio.Event()

    def WatchPolicy(self, requests: object, metadata: object) -> _PacedCall:
        stub = self.stubs[min(self.calls, len(self.stubs) - 1)]
        number, self.calls = self.calls, self.calls + 1
        return _PacedCall(
            stub.WatchPolicy(requests, metadata=metadata), number, self.pace, self.first_message
        )

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()


@contextlib.asynccontextmanager
async def verifier(
    targets: list[str], bound: timedelta, pace: Pace = lambda _n, _m: 0.0
) -> AsyncIterator[tuple[PolicyWatcher, RoutedStub]]:
    watcher = PolicyWatcher(
        grpc.aio.insecure_channel("127.0.0.1:9"),
        service_token="t",
        verifier_id="review-verifier",
        staleness_bound=bound,
    )
    stub = RoutedStub(targets, pace)
    watcher._stub = stub  # type: ignore[assignment]
    watcher.start()
    try:
        yield watcher, stub
    finally:
        await watcher.stop()
        await stub.close()


async def purchase(watcher: PolicyWatcher, tenant: str, agent: str) -> tuple[Outcome, ReasonCode]:
    """Verify(purchase 1.00 USD at shop.example.com), no min_revision, as the verifier decides."""
    state = watcher.state
    assert state is not None
    asked = VerifyInput(
        tenant_id=tenant,
        agent_id=agent,
        action="purchase",
        resource="shop.example.com",
        amount=Money(100, "USD"),
    )
    result = await decide(asked, state.snapshot, datetime.now(UTC), watcher.freshness, NoSteps())
    return result.outcome, result.reason_code


def _closed_port() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


async def test_a_verifier_that_applies_deltas_late_goes_stale_rather_than_allow_a_disabled_agent(
    db: Database,
) -> None:
    """Deltas reach the verifier 0.25 s apart (a slow link or a busy verifier), and 30 other
    revisions were committed just before DisableAgent: the disable is ~7.5 s down the pipe.

    Deltas alone vouch for nothing; heartbeats, sent every period even while deltas flow,
    name the newest revision, and vouch only once the verifier has caught up with it. So 4 s
    after DisableAgent returned (bound 2 s) the verifier, still behind, answers
    STALE_POLICY."""
    hub = WatchHub(db.pool, database_url=db.url, heartbeat_seconds=0.2)
    await hub.start()
    tenant = await create_tenant(db.pool)
    agent, _ = await create_agent(db.pool, tenant, "buyer")
    other, _ = await create_agent(db.pool, tenant, "busy")
    await grant(db.pool, tenant, agent)

    def pace(_call: int, message: internal_pb2.WatchPolicyResponse) -> float:
        return 0.25 if message.HasField("delta") else 0.0

    try:
        async with (
            watch_server(hub) as target,
            verifier([target], timedelta(seconds=2), pace) as (
                watcher,
                _stub,
            ),
        ):
            await asyncio.wait_for(watcher.wait_ready(), 10)
            assert await purchase(watcher, tenant, agent) == (Outcome.ALLOW, ReasonCode.ALLOWED)
            for i in range(30):
                await set_disabled(db.pool, other, i % 2 == 0)
            disabled_at_revision = await set_disabled(db.pool, agent, True)
            returned = time.monotonic()
            await asyncio.sleep(4.0)
            state = watcher.state
            assert state is not None and state.snapshot.revision < disabled_at_revision
            silent = watcher.freshness.silent_for
            outcome = await purchase(watcher, tenant, agent)
            print(
                f"\n{time.monotonic() - returned:.1f}s after DisableAgent: applied "
                f"{state.snapshot.revision} of {disabled_at_revision}, silent_for={silent}, "
                f"{outcome}"
            )
            assert outcome in {
                (Outcome.DENY, ReasonCode.STALE_POLICY),
                (Outcome.DENY, ReasonCode.AGENT_DISABLED),
            }
    finally:
        await hub.stop()
