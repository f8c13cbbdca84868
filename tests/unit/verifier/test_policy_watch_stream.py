"""The watch stream as the verifier applies it (behalf.verifier.policy_watch): what vouches for
the policy Verify answers from (the swap of a snapshot and the stream that sent it, never the
first chunks of a snapshot still arriving), and which deltas are applied.

The registry's stream is played by a scripted WatchPolicy call: this is the watcher's own
handling of messages, which the integration suites exercise against the real registry.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc

from behalf.v1 import internal_pb2, resources_pb2
from behalf.verifier.engine import VerifyInput, decide
from behalf.verifier.outcomes import Outcome, ReasonCode
from behalf.verifier.policy_watch import PolicyWatcher
from tests.harness.no_steps import NoSteps

TENANT = "ten_" + "t" * 20
AGENT = "agt_" + "a" * 20
ASK = VerifyInput(tenant_id=TENANT, agent_id=AGENT, action="browse_web", resource="example.com")


def _chunk(revision: int, *, disabled: bool, last: bool) -> internal_pb2.WatchPolicyResponse:
    chunk = internal_pb2.PolicySnapshotChunk(revision=revision, last=last)
    chunk.agents.append(
        resources_pb2.Agent(agent_id=AGENT, tenant_id=TENANT, disabled=disabled, revision=revision)
    )
    chunk.permissions.append(
        resources_pb2.Permission(
            permission_id="prm_" + "p" * 20,
            agent_id=AGENT,
            tenant_id=TENANT,
            allowed_actions=["browse_web"],
            resources=["example.com"],
            revision=1,
        )
    )
    return internal_pb2.WatchPolicyResponse(snapshot_chunk=chunk)


class Stream:
    """One WatchPolicy call: its messages, then the stream ends (the connection drops);
    `hold_after` pauses it after that many messages until `resume` is set."""

    def __init__(self, messages: list[internal_pb2.WatchPolicyResponse], hold_after: int = -1):
        self.messages = messages
        self.hold_after = hold_after
        self.resume = asyncio.Event()

    def __aiter__(self) -> AsyncIterator[internal_pb2.WatchPolicyResponse]:
        return self._messages()

    def cancel(self) -> bool:
        """What the watcher does to a call it leaves."""
        return True

    async def _messages(self) -> AsyncIterator[internal_pb2.WatchPolicyResponse]:
        for sent, message in enumerate(self.messages, start=1):
            yield message
            if sent == self.hold_after:
                await self.resume.wait()


class Registry:
    """Answers each WatchPolicy with the next scripted stream."""

    def __init__(self) -> None:
        self.streams: list[Stream] = []

    def WatchPolicy(self, _requests: object, metadata: object) -> Stream:
        return self.streams.pop(0)


def _watcher(registry: Registry) -> PolicyWatcher:
    watcher = PolicyWatcher(
        grpc.aio.insecure_channel("127.0.0.1:9"),
        service_token="t",
        verifier_id="v",
        staleness_bound=timedelta(seconds=5),
    )
    watcher._stub = registry  # type: ignore[assignment]
    return watcher


async def _decide(watcher: PolicyWatcher) -> tuple[Outcome, ReasonCode]:
    assert watcher.state is not None
    result = await decide(
        ASK, watcher.state.snapshot, datetime.now(UTC), watcher.freshness, NoSteps()
    )
    return result.outcome, result.reason_code


def _outage(watcher: PolicyWatcher, seconds: float) -> None:
    """The registry has been silent for `seconds` (its last word moved back)."""
    assert watcher._heard_at is not None
    watcher._heard_at -= seconds


async def test_a_snapshot_still_arriving_does_not_make_the_old_one_fresh() -> None:
    """Revision 10 allows; the stream drops, the agent is disabled at 11 meanwhile, and the
    reconnect's snapshot (agent disabled) is slow to arrive: until it is swapped in, the old
    policy is stale, not an allow."""
    registry = Registry()
    watcher = _watcher(registry)
    registry.streams.append(Stream([_chunk(10, disabled=False, last=True)]))
    await watcher._follow_once()
    assert await _decide(watcher) == (Outcome.ALLOW, ReasonCode.ALLOWED)

    _outage(watcher, 3600)
    assert await _decide(watcher) == (Outcome.DENY, ReasonCode.STALE_POLICY)

    slow = Stream(
        [_chunk(11, disabled=True, last=False), _chunk(11, disabled=True, last=True)],
        hold_after=1,
    )
    registry.streams.append(slow)
    following = asyncio.create_task(watcher._follow_once())
    for _ in range(20):
        await asyncio.sleep(0)
    assert watcher.state is not None and watcher.state.snapshot.revision == 10
    assert await _decide(watcher) == (Outcome.DENY, ReasonCode.STALE_POLICY)

    slow.resume.set()
    await following
    assert await _decide(watcher) == (Outcome.DENY, ReasonCode.AGENT_DISABLED)


async def test_reconnects_that_never_finish_a_snapshot_keep_the_policy_stale() -> None:
    registry = Registry()
    watcher = _watcher(registry)
    registry.streams.append(Stream([_chunk(10, disabled=False, last=True)]))
    await watcher._follow_once()
    _outage(watcher, 600)
    for _ in range(5):  # each reconnect delivers a first chunk, then the stream drops
        registry.streams.append(Stream([_chunk(11, disabled=True, last=False)]))
        await watcher._follow_once()
        assert await _decide(watcher) == (Outcome.DENY, ReasonCode.STALE_POLICY)


async def test_heartbeats_on_the_installed_stream_keep_it_fresh() -> None:
    registry = Registry()
    watcher = _watcher(registry)
    heartbeat = internal_pb2.WatchPolicyResponse(heartbeat=internal_pb2.WatchHeartbeat())
    stream = Stream([_chunk(10, disabled=False, last=True), heartbeat], hold_after=1)
    registry.streams.append(stream)
    following = asyncio.create_task(watcher._follow_once())
    for _ in range(20):
        await asyncio.sleep(0)
    _outage(watcher, 3600)
    assert await _decide(watcher) == (Outcome.DENY, ReasonCode.STALE_POLICY)
    stream.resume.set()
    await following  # the heartbeat arrives on the stream whose snapshot is installed
    assert await _decide(watcher) == (Outcome.ALLOW, ReasonCode.ALLOWED)


OTHER_TENANT = "ten_" + "o" * 20


def _revoking(tenant: str, revision: int) -> internal_pb2.WatchPolicyResponse:
    delta = internal_pb2.PolicyDelta(revision=revision, tenant_id=tenant)
    delta.changes.add().permission_deleted = "prm_" + ("p" if tenant == TENANT else "q") * 20
    return internal_pb2.WatchPolicyResponse(delta=delta)


async def test_one_revision_that_changes_two_tenants_is_applied_for_both() -> None:
    """A revision arrives as one delta per tenant it changed: the second tenant's delta at the
    revision just reached is applied too, and a delta already in the state is not."""
    other = _chunk(10, disabled=False, last=True)
    grant = other.snapshot_chunk.permissions.add()
    grant.CopyFrom(other.snapshot_chunk.permissions[0])
    grant.permission_id, grant.tenant_id = "prm_" + "q" * 20, OTHER_TENANT
    other.snapshot_chunk.agents.add().CopyFrom(
        resources_pb2.Agent(agent_id=AGENT, tenant_id=OTHER_TENANT, revision=1)
    )
    registry = Registry()
    watcher = _watcher(registry)
    registry.streams.append(
        Stream([other, _revoking(TENANT, 11), _revoking(OTHER_TENANT, 11), _revoking(TENANT, 11)])
    )
    await watcher._follow_once()
    assert watcher.state is not None and watcher.state.snapshot.revision == 11
    for tenant in (TENANT, OTHER_TENANT):
        asked = VerifyInput(
            tenant_id=tenant, agent_id=AGENT, action="browse_web", resource="example.com"
        )
        result = await decide(
            asked, watcher.state.snapshot, datetime.now(UTC), watcher.freshness, NoSteps()
        )
        assert (result.outcome, result.reason_code) == (Outcome.DENY, ReasonCode.NO_PERMISSION)


async def test_deltas_at_a_full_snapshots_revision_are_in_it_already() -> None:
    registry = Registry()
    watcher = _watcher(registry)
    registry.streams.append(Stream([_chunk(10, disabled=False, last=True), _revoking(TENANT, 10)]))
    await watcher._follow_once()
    assert await _decide(watcher) == (Outcome.ALLOW, ReasonCode.ALLOWED)
