"""The verifier's stream handling of delta parts, late deltas and broken streams
(policy_watch: DeltaParts, gaps below the applied revision)."""

from __future__ import annotations

import asyncio

import pytest

from behalf.v1 import internal_pb2, resources_pb2
from behalf.verifier.outcomes import Outcome, ReasonCode
from tests.unit.verifier.test_policy_watch_staleness import (
    AGENT,
    TENANT,
    Registry,
    Stream,
    _chunk,
    _decide,
    _disable,
    _settle,
    _watcher,
)


def _enable(revision: int) -> internal_pb2.WatchPolicyResponse:
    delta = internal_pb2.PolicyDelta(revision=revision, tenant_id=TENANT)
    delta.changes.add().agent_upserted.CopyFrom(
        resources_pb2.Agent(agent_id=AGENT, tenant_id=TENANT, disabled=False, revision=revision)
    )
    return internal_pb2.WatchPolicyResponse(delta=delta)


async def test_a_stream_that_breaks_between_parts_applies_none_of_them() -> None:
    registry = Registry()
    watcher = _watcher(registry)
    registry.streams.append(Stream([_chunk(10, last=True), _disable(TENANT, 11, continued=True)]))
    await watcher._follow_once()
    assert watcher.state is not None and watcher.state.snapshot.revision == 10
    assert await _decide(watcher) == (Outcome.ALLOW, ReasonCode.ALLOWED)
    # The reconnect's snapshot holds revision 11 whole.
    snapshot = _chunk(11, last=True)
    snapshot.snapshot_chunk.agents[0].disabled = True
    registry.streams.append(Stream([snapshot]))
    await watcher._follow_once()
    assert await _decide(watcher) == (Outcome.DENY, ReasonCode.AGENT_DISABLED)


async def test_parts_of_two_revisions_interleaved_break_the_stream() -> None:
    registry = Registry()
    watcher = _watcher(registry)
    registry.streams.append(
        Stream(
            [
                _chunk(10, last=True),
                _disable(TENANT, 11, continued=True),
                _disable(TENANT, 12, continued=False),
            ]
        )
    )
    with pytest.raises(ConnectionError):
        await watcher._follow_once()
    assert watcher.state is not None and watcher.state.snapshot.revision == 10


async def test_parts_are_applied_together_with_the_last() -> None:
    registry = Registry()
    watcher = _watcher(registry)
    first = _disable(TENANT, 11, continued=True)
    last = _enable(11)
    last.delta.changes[0].agent_upserted.disabled = True
    stream = Stream([_chunk(10, last=True), first, last], holds=(2,))
    registry.streams.append(stream)
    following = asyncio.create_task(watcher._follow_once())
    await _settle()
    assert watcher.state is not None and watcher.state.snapshot.revision == 10
    stream.release(2)
    await following
    assert watcher.state.snapshot.revision == 11
    assert await _decide(watcher) == (Outcome.DENY, ReasonCode.AGENT_DISABLED)


async def test_a_delta_below_the_applied_revision_is_not_applied() -> None:
    """A late re-enable at 11 after the disable at 12 must not bring the agent back."""
    registry = Registry()
    watcher = _watcher(registry)
    registry.streams.append(Stream([_chunk(10, last=True), _disable(TENANT, 12), _enable(11)]))
    await watcher._follow_once()
    assert await _decide(watcher) == (Outcome.DENY, ReasonCode.AGENT_DISABLED)


async def test_min_revision_not_reached_is_stale_after_the_wait() -> None:
    registry = Registry()
    watcher = _watcher(registry)
    registry.streams.append(Stream([_chunk(10, last=True)]))
    await watcher._follow_once()
    assert await watcher.wait_for_revision(11, 0.05) is False
    assert await _decide(watcher, min_revision=11) == (Outcome.DENY, ReasonCode.STALE_POLICY)
