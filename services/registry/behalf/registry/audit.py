"""The audit trail: the decisions topic into the `decisions` table, and the queries over it.

Column conventions: `outcome` and `reason_code` hold the proto enum names in full
("OUTCOME_ALLOW", "REASON_CODE_NO_PERMISSION"), or the number as text for a value this build does
not know; `decided_at` is the decision's decide_time (the record's timestamp if unset); `payload`
is the record value exactly as consumed, so GetDecision returns what the verifier published.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError

from behalf.common import page_tokens
from behalf.common.errors import InvalidArgument, NotFound
from behalf.common.ids import is_id
from behalf.common.kafka import PLAINTEXT, KafkaSecurity
from behalf.v1 import common_pb2, events_pb2, registry_pb2

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_MAX_REQUEST_ID = 256
_BATCH_RECORDS = 500
_MAX_BACKOFF_SECONDS = 5.0
_PAGE_KIND = "decisions:"  # + the fingerprint of the tenant and filters the token is for
_log = structlog.get_logger("audit")

_INSERT = """
INSERT INTO decisions
    (event_id, tenant_id, request_id, agent_id, outcome, reason_code, decided_at, payload)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::timestamptz[], $8::bytea[])
ON CONFLICT (event_id) DO NOTHING
"""


def enum_name(enum: Any, number: int) -> str:
    """The enum value's full proto name, or the number as text for an unknown value."""
    try:
        name: str = enum.Name(number)
    except ValueError:
        return str(number)
    return name


@dataclass(frozen=True)
class _Row:
    event_id: str
    tenant_id: str
    request_id: str
    agent_id: str
    outcome: str
    reason_code: str
    decided_at: datetime
    payload: bytes


def _row(record: ConsumerRecord[bytes, bytes]) -> _Row | None:
    """The audit row of one record, or None (logged) for a record that is not a DecisionEvent."""
    try:
        event = events_pb2.DecisionEvent.FromString(record.value or b"")
    except Exception:
        _log.error("audit_record_undecodable", partition=record.partition, offset=record.offset)
        return None
    if not event.event_id or not event.tenant_id:
        _log.error("audit_record_incomplete", partition=record.partition, offset=record.offset)
        return None
    decision = event.decision
    if decision.HasField("decide_time"):
        decided_at = decision.decide_time.ToDatetime(tzinfo=UTC)
    else:
        decided_at = datetime.fromtimestamp(record.timestamp / 1000, tz=UTC)
    return _Row(
        event_id=event.event_id,
        tenant_id=event.tenant_id,
        request_id=decision.request_id,
        agent_id=event.agent_id,
        outcome=enum_name(common_pb2.Outcome, decision.outcome),
        reason_code=enum_name(common_pb2.ReasonCode, decision.reason_code),
        decided_at=decided_at,
        payload=record.value or b"",
    )


class AuditSink:
    """Consumes the decisions topic into the audit table; offsets follow committed rows."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        bootstrap: str,
        topic: str,
        group_id: str,
        security: KafkaSecurity = PLAINTEXT,
    ) -> None:
        self._pool = pool
        self._bootstrap = bootstrap
        self._security = security
        self._topic = topic
        self._group_id = group_id
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start consuming in the background."""
        self._task = asyncio.create_task(self._run(), name="audit-sink")

    async def stop(self) -> None:
        """Stop consuming; uncommitted records are read again by the next consumer."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            consumer = AIOKafkaConsumer(
                self._topic,
                bootstrap_servers=self._bootstrap,
                group_id=self._group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                # Verifiers audit in transactions; an aborted one was answered as a deny.
                isolation_level="read_committed",
                **self._security.client_options(),
            )
            try:
                await consumer.start()
                backoff = 0.2
                await self._consume(consumer)
            except Exception as exc:
                _log.warning("audit_sink_failed", error=type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=_BATCH_RECORDS)
            if not batches:
                continue
            rows = [
                row for records in batches.values() for record in records if (row := _row(record))
            ]
            await self._store(rows)
            offsets = {
                TopicPartition(tp.topic, tp.partition): records[-1].offset + 1
                for tp, records in batches.items()
                if records
            }
            try:
                await consumer.commit(offsets)
            except CommitFailedError:
                # A rebalance moved the partitions; their new owner re-reads (idempotently).
                _log.info("audit_commit_skipped_after_rebalance")

    async def _store(self, rows: list[_Row]) -> None:
        """Insert the rows, retrying until the database takes them."""
        backoff = 0.2
        while True:
            try:
                await self._insert(rows)
                return
            except asyncpg.DataError:
                await self._insert_one_by_one(rows)
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                _log.warning("audit_insert_failed", error=type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)

    async def _insert(self, rows: list[_Row]) -> None:
        if not rows:
            return
        columns = [[getattr(row, name) for row in rows] for name in _Row.__dataclass_fields__]
        async with self._pool.acquire() as conn:
            await conn.execute(_INSERT, *columns)

    async def _insert_one_by_one(self, rows: list[_Row]) -> None:
        """Store what the database accepts; log (by event id only) and skip what it rejects."""
        for row in rows:
            try:
                await self._insert([row])
            except asyncpg.DataError:
                _log.error("audit_row_rejected", event_id=row.event_id[:64])


class AuditQueries:
    """ListDecisions and GetDecision over the audit table, always within one tenant."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def list_decisions(
        self, tenant_id: str, request: registry_pb2.ListDecisionsRequest
    ) -> registry_pb2.ListDecisionsResponse:
        """One page of the tenant's decisions matching the filters, newest first."""
        page_size = _page_size(request.page_size)
        where = ["tenant_id = $1"]
        args: list[Any] = [tenant_id]

        def add(condition: str, value: Any) -> None:
            args.append(value)
            where.append(condition.format(f"${len(args)}"))

        if request.agent_id:
            if not is_id(request.agent_id, "agt"):
                raise InvalidArgument("agent_id", "not a valid agent id")
            add("agent_id = {}", request.agent_id)
        if request.outcome:
            if request.outcome not in common_pb2.Outcome.values():
                raise InvalidArgument("outcome", "unknown outcome")
            add("outcome = {}", common_pb2.Outcome.Name(request.outcome))
        if request.reason_code:
            if request.reason_code not in common_pb2.ReasonCode.values():
                raise InvalidArgument("reason_code", "unknown reason code")
            add("reason_code = {}", common_pb2.ReasonCode.Name(request.reason_code))
        start = _time(request, "start_time")
        end = _time(request, "end_time")
        if start is not None and end is not None and end <= start:
            raise InvalidArgument("end_time", "must be after start_time")
        if start is not None:
            add("decided_at >= {}", start)
        if end is not None:
            add("decided_at < {}", end)
        if request.request_id:
            if len(request.request_id) > _MAX_REQUEST_ID:
                raise InvalidArgument("request_id", f"at most {_MAX_REQUEST_ID} characters")
            add("request_id = {}", request.request_id)
        fingerprint = _fingerprint(tenant_id, request)
        if request.page_token:
            after_time, after_id = _decode_token(request.page_token, fingerprint)
            args.extend([after_time, after_id])
            where.append(f"(decided_at, event_id) < (${len(args) - 1}, ${len(args)})")
        args.append(page_size + 1)
        query = f"""SELECT event_id, decided_at, payload FROM decisions
                    WHERE {" AND ".join(where)}
                    ORDER BY decided_at DESC, event_id DESC LIMIT ${len(args)}"""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(query, *args)
        response = registry_pb2.ListDecisionsResponse(
            decisions=[events_pb2.DecisionEvent.FromString(r["payload"]) for r in rows[:page_size]]
        )
        if len(rows) > page_size:
            last = rows[page_size - 1]
            response.next_page_token = _encode_token(
                last["decided_at"], last["event_id"], fingerprint
            )
        return response

    async def get_decision(self, tenant_id: str, request_id: str) -> events_pb2.DecisionEvent:
        """The tenant's decision for a Verify request id (the newest, should there be two)."""
        if not request_id:
            raise InvalidArgument("request_id", "required")
        if len(request_id) > _MAX_REQUEST_ID:
            raise InvalidArgument("request_id", f"at most {_MAX_REQUEST_ID} characters")
        async with self._pool.acquire() as conn:
            payload = await conn.fetchval(
                """SELECT payload FROM decisions WHERE tenant_id = $1 AND request_id = $2
                   ORDER BY decided_at DESC, event_id DESC LIMIT 1""",
                tenant_id,
                request_id,
            )
        if payload is None:
            raise NotFound("decision not found")
        return events_pb2.DecisionEvent.FromString(payload)


def _page_size(value: int) -> int:
    if value == 0:
        return DEFAULT_PAGE_SIZE
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise InvalidArgument("page_size", f"must be between 1 and {MAX_PAGE_SIZE} (0 means 50)")
    return value


def _time(request: registry_pb2.ListDecisionsRequest, field: str) -> datetime | None:
    if not request.HasField(field):
        return None
    try:
        return getattr(request, field).ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument(field, "not a valid timestamp") from None


def _fingerprint(tenant_id: str, request: registry_pb2.ListDecisionsRequest) -> str:
    """Binds a page token to the tenant and filters it was issued for."""
    filters = registry_pb2.ListDecisionsRequest()
    filters.CopyFrom(request)
    filters.ClearField("page_token")
    filters.ClearField("page_size")
    digest = hashlib.sha256(
        tenant_id.encode() + b"\0" + filters.SerializeToString(deterministic=True)
    )
    return digest.hexdigest()[:16]


def _encode_token(decided_at: datetime, event_id: str, fingerprint: str) -> str:
    return page_tokens.encode(_PAGE_KIND + fingerprint, decided_at, event_id)


def _decode_token(token: str, fingerprint: str) -> tuple[datetime, str]:
    """The position in a token issued for this tenant and these filters."""
    try:
        position = page_tokens.decode(_PAGE_KIND + fingerprint, token)
    except page_tokens.BadPageToken as exc:
        raise InvalidArgument("page_token", str(exc)) from None
    if position is None:
        raise InvalidArgument("page_token", "not a valid page token")
    return position.at, position.row_id
