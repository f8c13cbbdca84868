"""Policy a tenant admin may create never makes a WatchPolicy snapshot chunk (or, for a
verifier that accepts parts, a delta) larger than a verifier can receive. Chunks hold up to
`snapshot_chunk_size` (5,000) items of every tenant, in id order, and at most CHUNK_MAX_BYTES;
the verifier's channel takes at most 64 MiB per message (verifier/app.py), and the registry sends
at most MAX_SEND_BYTES (64 MiB)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from behalf.common.actions import MAX_ACTION_LENGTH
from behalf.common.host import MAX_SEND_BYTES
from behalf.common.ids import new_id
from behalf.registry import validation as v
from behalf.registry.store.policy_reads import PolicyItem
from behalf.registry.watch.deltas import (
    CHUNK_MAX_BYTES,
    build_deltas,
    delta_parts,
    snapshot_chunks,
)
from behalf.v1 import events_pb2, internal_pb2, resources_pb2
from behalf.verifier.policy_watch import DeltaParts

VERIFIER_MAX_RECEIVE = 64 * 1024 * 1024  # verifier/app.py: the registry channel's option
CHUNK = 5000  # PolicyStream's default snapshot_chunk_size
LIMIT = min(VERIFIER_MAX_RECEIVE, MAX_SEND_BYTES)


def _action(prefix: str, n: int) -> str:
    return f"{prefix}{n:03d}_" + "x" * (MAX_ACTION_LENGTH - 5)  # 64 characters, lower_snake


def _resource(n: int) -> str:
    """A 253-character host name, unique per n."""
    return ".".join([f"h{n:03d}" + "a" * 59, "b" * 63, "c" * 63, "d" * 57]) + ".com"


def _largest_permission(tenant_id: str, agent_id: str) -> resources_pb2.Permission:
    """The largest permission GrantPermission accepts: 64 + 64 actions of 64 characters and
    100 resources of 253 characters, each passed through the registry's own validators."""
    allowed = v.actions([_action("a", n) for n in range(v.MAX_ACTIONS)], "allowed_actions")
    blocked = v.actions([_action("b", n) for n in range(v.MAX_ACTIONS)], "blocked_actions")
    patterns = v.resources([_resource(n) for n in range(v.MAX_RESOURCES)])
    assert len(allowed) == len(blocked) == 64 and len(patterns) == 100
    assert all(len(p) == 253 for p in patterns)
    return resources_pb2.Permission(
        permission_id=new_id("prm"),
        tenant_id=tenant_id,
        agent_id=agent_id,
        allowed_actions=allowed,
        blocked_actions=blocked,
        resources=patterns,
        revision=1,
    )


def _largest_agent(tenant_id: str) -> resources_pb2.Agent:
    """The largest agent CreateAgent accepts: name, description and labels at their limits in
    4-byte characters (the limits count characters, not bytes)."""
    wide = "\U0001f600"  # an emoji: one character, four UTF-8 bytes, no control
    labels = v.labels({f"k{n:02d}" + "k" * 60: wide * 63 for n in range(v.MAX_LABELS)})
    return resources_pb2.Agent(
        agent_id=new_id("agt"),
        tenant_id=tenant_id,
        name=v.name(wide * v.MAX_NAME),
        description=v.description(wide * v.MAX_DESCRIPTION),
        labels=labels,
        revision=1,
    )


async def _items(make: object, count: int) -> AsyncIterator[PolicyItem]:
    for _ in range(count):
        yield make()  # type: ignore[operator]


async def _largest_chunk(items: AsyncIterator[PolicyItem]) -> int:
    return max([r.ByteSize() async for r in snapshot_chunks(7, items, CHUNK)])


async def test_a_chunk_of_one_tenants_largest_permissions_fits_a_verifiers_message() -> None:
    """Attack: a tenant admin grants a few thousand permissions, each at every limit (about
    34 kB). A snapshot chunk of 5,000 of them is ~170 MB, over the 64 MiB the registry sends and
    a verifier receives, so every verifier that (re)connects fails its snapshot forever and
    denies every tenant STALE_POLICY. Safe: chunks are bounded by bytes, not only items."""
    tenant, agent = new_id("ten"), new_id("agt")
    one = _largest_permission(tenant, agent)
    size = await _largest_chunk(_items(lambda: one, CHUNK))
    assert size <= LIMIT, f"a snapshot chunk of {size:,} bytes exceeds {LIMIT:,}"


async def test_a_chunk_of_one_tenants_largest_agents_fits_a_verifiers_message() -> None:
    """Attack: as above with agents (about 19 kB each with emoji name, description and label
    values): agents come first in a snapshot, so 5,000 of them are one ~95 MB chunk. Safe: every
    chunk fits the verifier's 64 MiB receive limit."""
    tenant = new_id("ten")
    one = _largest_agent(tenant)
    size = await _largest_chunk(_items(lambda: one, CHUNK))
    assert size <= LIMIT, f"a snapshot chunk of {size:,} bytes exceeds {LIMIT:,}"


class _Row:
    """An outbox row as the tail reads it (store.policy_reads.OutboxEntry)."""

    def __init__(self, revision: int, tenant_id: str, event_type: str, payload: bytes) -> None:
        self.revision, self.tenant_id = revision, tenant_id
        self.event_type, self.payload = event_type, payload


def test_deleting_an_agent_with_many_large_permissions_is_sent_in_parts_that_fit() -> None:
    """Attack: a tenant admin gives one agent 2,000 permissions at every limit, then deletes it.
    DeleteAgent revokes them all at one revision, which build_deltas makes one PolicyDelta
    (~68 MB), over 64 MiB: every connected verifier's stream broke at once and each had to take a
    full snapshot. A verifier that accepts parts gets it in parts that fit, every one but the
    last `continued`, and together exactly the revision's changes, in order; DeltaParts (the
    verifier's side) gives the whole delta back only with the last part."""
    tenant, agent = new_id("ten"), new_id("agt")
    one = _largest_permission(tenant, agent)
    payload = events_pb2.LifecycleEvent(
        event_id=new_id("evt"), tenant_id=tenant, type="permission.revoked", permission=one
    ).SerializeToString()
    rows = [_Row(9, tenant, "permission.revoked", payload) for _ in range(2000)]
    [(revision, [message])] = build_deltas(rows)
    assert revision == 9 and message.ByteSize() > LIMIT  # the precondition: one is too large
    parts = delta_parts(message)
    assert len(parts) > 1
    assert all(p.ByteSize() <= CHUNK_MAX_BYTES + 64 * 1024 for p in parts)
    assert [p.delta.continued for p in parts] == [True] * (len(parts) - 1) + [False]
    assert {(p.delta.revision, p.delta.tenant_id) for p in parts} == {(9, tenant)}
    joined = DeltaParts()
    wholes = [joined.whole(p.delta) for p in parts]
    assert wholes[:-1] == [None] * (len(parts) - 1)
    assert wholes[-1] == message.delta


def test_a_delta_that_fits_and_other_messages_go_as_they_are() -> None:
    small = internal_pb2.WatchPolicyResponse(
        delta=internal_pb2.PolicyDelta(revision=3, tenant_id=new_id("ten"))
    )
    heartbeat = internal_pb2.WatchPolicyResponse(heartbeat=internal_pb2.WatchHeartbeat(revision=3))
    assert delta_parts(small) == [small] and delta_parts(heartbeat) == [heartbeat]
    assert DeltaParts().whole(small.delta) is small.delta


def test_parts_of_two_deltas_interleaved_break_the_stream() -> None:
    """A part of another revision or tenant before the last part is never applied as if it
    belonged: the verifier drops the stream and reconnects for a snapshot."""
    first = internal_pb2.PolicyDelta(revision=5, tenant_id="ten_a", continued=True)
    parts = DeltaParts()
    assert parts.whole(first) is None
    with pytest.raises(ConnectionError):
        parts.whole(internal_pb2.PolicyDelta(revision=5, tenant_id="ten_b"))
