"""Pure message building for the policy watch: outbox rows into per-revision PolicyDeltas, and
the policy at one revision into snapshot chunks. No I/O here."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from typing import Protocol

import structlog

from behalf.v1 import events_pb2, internal_pb2, resources_pb2

# One revision's messages: the deltas (one per tenant) that a stream sends together.
Batch = tuple[int, list[internal_pb2.WatchPolicyResponse]]
PolicyItem = resources_pb2.Agent | resources_pb2.Permission | internal_pb2.ApiKeyCredential
Credentials = dict[str, internal_pb2.ApiKeyCredential]

_log = structlog.get_logger("watch")


class OutboxRow(Protocol):
    """An outbox row that took a policy revision (store.policy_reads.OutboxEntry)."""

    @property
    def revision(self) -> int: ...
    @property
    def tenant_id(self) -> str: ...
    @property
    def event_type(self) -> str: ...
    @property
    def payload(self) -> bytes: ...


def mentioned_key_ids(rows: Iterable[OutboxRow]) -> list[str]:
    """The keys that api_key.* rows are about. Keys only ever go from active to revoked, and
    revocation has its own later row, so their credentials may be read now."""
    return [
        events_pb2.LifecycleEvent.FromString(row.payload).api_key.key_id
        for row in rows
        if row.event_type.startswith("api_key.")
    ]


def change(
    event_type: str, payload: bytes, credentials: Credentials
) -> internal_pb2.PolicyChange | None:
    """The PolicyChange an outbox row carries, or None for a row that changes no policy."""
    if not event_type.startswith(("agent.", "permission.", "api_key.")):
        return None
    event = events_pb2.LifecycleEvent.FromString(payload)
    subject = event.WhichOneof("subject")
    if subject == "api_key":
        credential = credentials.get(event.api_key.key_id)
        return (
            None if credential is None else internal_pb2.PolicyChange(api_key_upserted=credential)
        )
    if subject == "agent":
        if event_type == "agent.deleted":
            return internal_pb2.PolicyChange(agent_deleted=event.agent.agent_id)
        return internal_pb2.PolicyChange(agent_upserted=event.agent)
    if subject == "permission":
        return internal_pb2.PolicyChange(permission_upserted=event.permission)
    return None


def build_deltas(rows: Sequence[OutboxRow], credentials: Credentials | None = None) -> list[Batch]:
    """Group outbox rows (ordered by revision, seq) into per-revision lists of deltas, one delta
    per tenant in order of first appearance. A revision with no policy change still yields
    its (empty) deltas, so a verifier's applied revision can reach the registry's."""
    batches: list[Batch] = []
    deltas: dict[str, internal_pb2.PolicyDelta] = {}
    revision: int | None = None
    for row in rows:
        if row.revision != revision:
            if revision is not None:
                batches.append((revision, _wrap(deltas)))
            revision, deltas = row.revision, {}
        tenant_id = row.tenant_id
        delta = deltas.get(tenant_id)
        if delta is None:
            delta = deltas[tenant_id] = internal_pb2.PolicyDelta(
                revision=row.revision, tenant_id=tenant_id
            )
        try:
            found = change(row.event_type, row.payload, credentials or {})
        except Exception:
            _log.exception("outbox_row_undecodable", revision=revision, tenant_id=tenant_id)
            found = None
        if found is not None:
            delta.changes.append(found)
    if revision is not None:
        batches.append((revision, _wrap(deltas)))
    return batches


def _wrap(deltas: dict[str, internal_pb2.PolicyDelta]) -> list[internal_pb2.WatchPolicyResponse]:
    return [internal_pb2.WatchPolicyResponse(delta=d) for d in deltas.values()]


# What one snapshot chunk or delta part holds at most, in bytes of its items: a quarter of the
# 64 MiB that the registry sends and a verifier receives in one message. Item counts alone do not
# bound it, since a tenant admin chooses how large each agent and permission is (up to ~40 kB),
# and how many change at one revision (deleting an agent revokes every permission it holds).
CHUNK_MAX_BYTES = 16 * 1024 * 1024


def delta_parts(
    response: internal_pb2.WatchPolicyResponse, max_bytes: int = CHUNK_MAX_BYTES
) -> list[internal_pb2.WatchPolicyResponse]:
    """A delta as parts of at most `max_bytes` of changes each, every part but the last marked
    `continued` (a verifier applies them together); any other message, or a delta that fits,
    as it is."""
    if response.WhichOneof("message") != "delta" or response.ByteSize() <= max_bytes:
        return [response]
    whole = response.delta
    parts: list[internal_pb2.WatchPolicyResponse] = []
    part = internal_pb2.PolicyDelta(revision=whole.revision, tenant_id=whole.tenant_id)
    taken = 0
    for change in whole.changes:
        size = change.ByteSize()
        if part.changes and taken + size > max_bytes:
            part.continued = True
            parts.append(internal_pb2.WatchPolicyResponse(delta=part))
            part = internal_pb2.PolicyDelta(revision=whole.revision, tenant_id=whole.tenant_id)
            taken = 0
        part.changes.append(change)
        taken += size
    parts.append(internal_pb2.WatchPolicyResponse(delta=part))
    return parts


async def snapshot_chunks(
    revision: int, items: AsyncIterable[PolicyItem], size: int, max_bytes: int = CHUNK_MAX_BYTES
) -> AsyncIterator[internal_pb2.WatchPolicyResponse]:
    """The policy at `revision` in chunks of `size` items or `max_bytes` of them, whichever
    comes first; the last chunk (possibly empty, never an empty one after a full one) says
    `last`. Each chunk is filled inside its response, so no chunk is copied on the way out (a
    million permissions are 200 chunks of 5,000)."""
    ready: internal_pb2.WatchPolicyResponse | None = None
    response = _chunk_response(revision)
    count = taken = 0
    async for item in items:
        _add(response.snapshot_chunk, item)
        count += 1
        taken += item.ByteSize()
        if count == size or taken >= max_bytes:
            if ready is not None:
                yield ready
            ready, count, taken = response, 0, 0
            response = _chunk_response(revision)
    if ready is not None and count:
        yield ready
        ready = None
    final = response if ready is None else ready
    final.snapshot_chunk.last = True
    yield final


def _chunk_response(revision: int) -> internal_pb2.WatchPolicyResponse:
    response = internal_pb2.WatchPolicyResponse()
    response.snapshot_chunk.revision = revision
    return response


def _add(chunk: internal_pb2.PolicySnapshotChunk, item: PolicyItem) -> None:
    if isinstance(item, resources_pb2.Agent):
        chunk.agents.append(item)
    elif isinstance(item, resources_pb2.Permission):
        chunk.permissions.append(item)
    else:
        chunk.api_keys.append(item)
