"""The policy watch's pure message building: deltas per revision and tenant, snapshot chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from behalf.registry.watch.deltas import build_deltas, mentioned_key_ids, snapshot_chunks
from behalf.v1 import events_pb2, internal_pb2, resources_pb2


@dataclass(frozen=True)
class _Row:
    revision: int
    tenant_id: str
    event_type: str
    payload: bytes


def _agent_row(revision: int, tenant: str, agent_id: str, event_type: str = "agent.created"):
    event = events_pb2.LifecycleEvent(agent=resources_pb2.Agent(agent_id=agent_id))
    return _Row(revision, tenant, event_type, event.SerializeToString())


def test_one_delta_per_revision_and_tenant_in_order():
    """Rows group into revisions, each with one delta per tenant in order of appearance."""
    rows = [
        _agent_row(1, "t1", "a1"),
        _agent_row(1, "t2", "a2"),
        _agent_row(1, "t1", "a3", "agent.deleted"),
        _Row(2, "t1", "webhook_endpoint.created", b""),
    ]
    batches = build_deltas(rows)
    assert [revision for revision, _ in batches] == [1, 2]
    first = [m.delta for m in batches[0][1]]
    assert [d.tenant_id for d in first] == ["t1", "t2"]
    assert [c.WhichOneof("change") for c in first[0].changes] == [
        "agent_upserted",
        "agent_deleted",
    ]
    assert [len(m.delta.changes) for m in batches[1][1]] == [0]


def test_an_undecodable_row_still_advances_the_revision():
    """A row whose payload does not parse yields an empty delta, not an error."""
    batches = build_deltas([_Row(3, "t1", "agent.created", b"\xff\xff")])
    assert batches[0][0] == 3
    assert not batches[0][1][0].delta.changes


def test_key_rows_use_the_credentials_read_for_them():
    """api_key rows name their keys, and become upserts of the credential read for each."""
    event = events_pb2.LifecycleEvent(api_key=resources_pb2.ApiKey(key_id="key_1"))
    rows = [_Row(4, "t1", "api_key.created", event.SerializeToString())]
    assert mentioned_key_ids(rows) == ["key_1"]
    credential = internal_pb2.ApiKeyCredential(key_id="key_1", tenant_id="t1")
    (batch,) = build_deltas(rows, {"key_1": credential})
    assert batch[1][0].delta.changes[0].api_key_upserted == credential
    assert not build_deltas(rows, {})[0][1][0].delta.changes


async def _items(n: int) -> AsyncIterator[resources_pb2.Agent]:
    for i in range(n):
        yield resources_pb2.Agent(agent_id=f"a{i}")


async def test_snapshot_chunks_end_with_exactly_one_last_chunk():
    """Chunks hold at most `size` items and only the final one says last, never empty after
    a full one (an empty policy is one empty last chunk)."""
    for total, expected in ((0, [0]), (2, [2]), (3, [3]), (6, [3, 3]), (7, [3, 3, 1])):
        chunks = [m.snapshot_chunk async for m in snapshot_chunks(9, _items(total), 3)]
        assert [len(c.agents) for c in chunks] == expected
        assert [c.last for c in chunks] == [False] * (len(expected) - 1) + [True]
        assert all(c.revision == 9 for c in chunks)
