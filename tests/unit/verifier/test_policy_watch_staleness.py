"""What the verifier's staleness clock vouches for (policy_watch): a policy the registry's word
no longer covers is STALE_POLICY, never ALLOW.

The registry's stream is played by a scripted WatchPolicy call, as in test_policy_watch_stream;
time is a fake monotonic clock in policy_watch, so "minutes" pass without waiting.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from behalf.v1 import internal_pb2, resources_pb2
from behalf.verifier import policy_watch
from behalf.verifier.engine import VerifyInput, decide
from behalf.verifier.outcomes import Outcome, ReasonCode
from behalf.verifier.policy_watch import PolicyWatcher
from tests.harness.no_steps import NoSteps

TENANT = "ten_" + "t" * 20
OTHER = "ten_" + "o" * 20
AGENT = "agt_" + "a" * 20
PERMISSION = "prm_" + "p" * 20
OTHER_PERMISSION = "prm_" + "q" * 20
BOUND = timedelta(seconds=5)


class Clock:
    """policy_watch's monotonic clock, moved by hand (asyncio keeps the real one)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(policy_watch, "time", types.SimpleNamespace(monotonic=fake.monotonic))
    return fake


def _agent(tenant: str, *, disabled: bool, revision: int) -> resources_pb2.Agent:
    return resources_pb2.Agent(
        agent_id=AGENT, tenant_id=tenant, disabled=disabled, revision=revision
    )


def _permission(
    tenant: str, permission_id: str, expires_at: datetime | None = None
) -> resources_pb2.Permission:
    permission = resources_pb2.Permission(
        permission_id=permission_id,
        agent_id=AGENT,
        tenant_id=tenant,
        allowed_actions=["browse_web"],
        resources=["example.com"],
        revision=1,
    )
    if expires_at is not None:
        permission.expires_at.FromDatetime(expires_at)
    return permission


def _chunk(
    revision: int,
    *,
    last: bool,
    tenants: tuple[str, ...] = (TENANT,),
    expires_at: datetime | None = None,
) -> internal_pb2.WatchPolicyResponse:
    chunk = internal_pb2.PolicySnapshotChunk(revision=revision, last=last)
    for tenant in tenants:
        chunk.agents.append(_agent(tenant, disabled=False, revision=1))
        chunk.permissions.append(
            _permission(tenant, PERMISSION if tenant == TENANT else OTHER_PERMISSION, expires_at)
        )
    return internal_pb2.WatchPolicyResponse(snapshot_chunk=chunk)


def _heartbeat(revision: int, registry_time: datetime) -> internal_pb2.WatchPolicyResponse:
    heartbeat = internal_pb2.WatchHeartbeat(revision=revision)
    heartbeat.server_time.FromDatetime(registry_time)
    return internal_pb2.WatchPolicyResponse(heartbeat=heartbeat)


def _disable(
    tenant: str, revision: int, *, continued: bool = False
) -> internal_pb2.WatchPolicyResponse:
    delta = internal_pb2.PolicyDelta(revision=revision, tenant_id=tenant, continued=continued)
    delta.changes.add().agent_upserted.CopyFrom(_agent(tenant, disabled=True, revision=revision))
    return internal_pb2.WatchPolicyResponse(delta=delta)


class Stream:
    """One WatchPolicy call; pauses after the message numbers in `holds` until released."""

    def __init__(
        self, messages: list[internal_pb2.WatchPolicyResponse], holds: tuple[int, ...] = ()
    ):
        self.messages = messages
        self.holds = {n: asyncio.Event() for n in holds}
        self.delivered = 0

    def release(self, after: int) -> None:
        self.holds[after].set()

    def __aiter__(self) -> AsyncIterator[internal_pb2.WatchPolicyResponse]:
        return self._messages()

    def cancel(self) -> bool:
        """What the watcher does to a call it leaves."""
        return True

    async def _messages(self) -> AsyncIterator[internal_pb2.WatchPolicyResponse]:
        for sent, message in enumerate(self.messages, start=1):
            yield message
            self.delivered = sent
            if sent in self.holds:
                await self.holds[sent].wait()


class Registry:
    def __init__(self) -> None:
        self.streams: list[Stream] = []

    def WatchPolicy(self, _requests: object, metadata: object) -> Stream:
        return self.streams.pop(0)


def _watcher(registry: Registry) -> PolicyWatcher:
    watcher = PolicyWatcher(
        grpc.aio.insecure_channel("127.0.0.1:9"),
        service_token="t",
        verifier_id="v",
        staleness_bound=BOUND,
    )
    watcher._stub = registry  # type: ignore[assignment]
    return watcher


async def _decide(
    watcher: PolicyWatcher, tenant: str = TENANT, min_revision: int = 0
) -> tuple[Outcome, ReasonCode]:
    assert watcher.state is not None
    asked = VerifyInput(
        tenant_id=tenant,
        agent_id=AGENT,
        action="browse_web",
        resource="example.com",
        min_revision=min_revision,
    )
    result = await decide(
        asked, watcher.state.snapshot, datetime.now(UTC), watcher.freshness, NoSteps()
    )
    return result.outcome, result.reason_code


async def _settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


async def test_a_snapshot_that_took_longer_than_the_bound_to_arrive_is_not_fresh(
    clock: Clock,
) -> None:
    """The registry reads the policy at revision 10 and starts sending it (a big snapshot: the
    docs measure ~90 s for 1M permissions). While it is in transit the agent is disabled at
    revision 11. The last chunk arrives 60 s after the first (bound 5 s) and the stream then
    drops (a registry rollout, or the stream overflowing its 10,000 queued revisions during the
    transfer) before delta 11 is sent.

    A snapshot vouches for the policy as of its first chunk's arrival (the registry had just
    read it), so this state is past the bound when it is swapped in: STALE_POLICY."""
    registry = Registry()
    watcher = _watcher(registry)
    stream = Stream([_chunk(10, last=False), _chunk(10, last=True)], holds=(1,))
    registry.streams.append(stream)
    following = asyncio.create_task(watcher._follow_once())
    await _settle()
    assert stream.delivered == 1
    clock.now += 60  # the rest of the snapshot takes a minute; revision 11 commits meanwhile
    stream.release(1)
    await following  # the stream ends right after the last chunk
    clock.now += 1
    assert await _decide(watcher) == (Outcome.DENY, ReasonCode.STALE_POLICY)


async def test_a_part_of_a_delta_that_never_completes_does_not_vouch_for_the_old_policy(
    clock: Clock,
) -> None:
    """Revision 10 is installed and vouched for at t=0. Revision 11 (disabling the agent, with
    enough other changes to go in parts) is committed; its first part (`continued`) arrives at
    t=4 s, then the stream drops before the last part.

    A part that is not applied vouches for nothing; at t=8 s the state was last known current
    at t=0: STALE_POLICY."""
    registry = Registry()
    watcher = _watcher(registry)
    stream = Stream([_chunk(10, last=True), _disable(TENANT, 11, continued=True)], holds=(1,))
    registry.streams.append(stream)
    following = asyncio.create_task(watcher._follow_once())
    await _settle()
    assert stream.delivered == 1 and watcher.state is not None
    clock.now += 4
    stream.release(1)
    await following  # the part arrives, then the stream drops
    assert watcher.state.snapshot.revision == 10  # the part was (rightly) not applied
    clock.now += 4
    assert await _decide(watcher) == (Outcome.DENY, ReasonCode.STALE_POLICY)


async def test_a_clock_behind_the_registrys_does_not_extend_an_expired_grant(
    clock: Clock,
) -> None:
    """The agent's grant expires at T; the registry's clock is past T, the verifier's runs a
    minute slow (NTP lost), so by its own clock the grant has 10 s left. The heartbeat carries
    the registry's clock: 60 s off, beyond the 5 s bound, is STALE_POLICY rather than a minute
    of ALLOWs under an expired grant. A heartbeat that finds the clocks together again clears
    it."""
    registry = Registry()
    watcher = _watcher(registry)
    ours = datetime.now(UTC)
    expires_at = ours + timedelta(seconds=10)
    registry_time = ours + timedelta(seconds=60)
    stream = Stream(
        [
            _chunk(10, last=True, expires_at=expires_at),
            _heartbeat(10, registry_time),
            _heartbeat(10, datetime.now(UTC)),
        ],
        holds=(2,),
    )
    registry.streams.append(stream)
    following = asyncio.create_task(watcher._follow_once())
    await _settle()
    assert stream.delivered == 2
    assert watcher.freshness.clock_skew > timedelta(seconds=59)
    assert await _decide(watcher) == (Outcome.DENY, ReasonCode.STALE_POLICY)
    stream.release(2)
    await following
    assert watcher.freshness.clock_skew < BOUND
    assert await _decide(watcher) == (Outcome.ALLOW, ReasonCode.ALLOWED)


async def test_a_heartbeat_with_no_possible_clock_makes_the_policy_stale(clock: Clock) -> None:
    """A heartbeat whose time no datetime holds (a broken registry) is as far off as can be:
    STALE_POLICY, never a crashed stream or a skew of nothing."""
    registry = Registry()
    watcher = _watcher(registry)
    broken = internal_pb2.WatchPolicyResponse(heartbeat=internal_pb2.WatchHeartbeat(revision=10))
    broken.heartbeat.server_time.seconds = 2**62
    stream = Stream([_chunk(10, last=True), broken], holds=(2,))
    registry.streams.append(stream)
    following = asyncio.create_task(watcher._follow_once())
    await _settle()
    assert stream.delivered == 2
    assert await _decide(watcher) == (Outcome.DENY, ReasonCode.STALE_POLICY)
    stream.release(2)
    await following
