"""The audit sink: the decisions topic into the `decisions` table, offsets after the rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from behalf.common.background import BackgroundTask
from behalf.common.consume import (
    ConsumeLoop,
    FetchBatching,
    Record,
    RetryLater,
    consume_forever,
    new_consumer,
)
from behalf.common.kafka import PLAINTEXT, KafkaSecurity
from behalf.common.tracing import consumer_spans
from behalf.registry.store import decisions
from behalf.registry.store.decisions import DecisionRow
from behalf.v1 import common_pb2, events_pb2

_BATCH_RECORDS = 500
_POLL_MS = 500
_DRAIN_SECONDS = 5.0
# The trail may lag Verify by a tenth of a second, so the sink reads and commits in bulk: per
# Verify transaction, a fetch, an INSERT and an offset commit cost the broker and the registry
# CPU that the verifier beside them needs (docs/benchmarks.md, `verify`).
_FETCH = FetchBatching(min_bytes=64 * 1024, max_wait_ms=100)
_COMMIT_INTERVAL_SECONDS = 1.0
_log = structlog.get_logger("audit")
MAX_ID_LENGTH = 256
# What one row can fail on (a value out of range, past a limit such as an index entry's size, a
# constraint): that row is skipped, not retried. Anything else means the database is away.
_ROW_ERRORS = (
    asyncpg.DataError,
    asyncpg.ProgramLimitExceededError,
    asyncpg.IntegrityConstraintViolationError,
)


def enum_name(enum: Any, number: int) -> str:
    """The enum value's full proto name, or the number as text for an unknown value."""
    try:
        name: str = enum.Name(number)
    except ValueError:
        return str(number)
    return name


def to_row(record: Record) -> DecisionRow | None:
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
    ids = (event.event_id, event.tenant_id, event.agent_id, decision.request_id)
    if any(len(value) > MAX_ID_LENGTH for value in ids):
        # Our verifiers never publish one (request ids are at most 128 characters), and no
        # index could hold it: stored, it would stop the trail for every tenant.
        _log.error("audit_record_oversize_id", partition=record.partition, offset=record.offset)
        return None
    return DecisionRow(
        event_id=event.event_id,
        tenant_id=event.tenant_id,
        request_id=decision.request_id,
        agent_id=event.agent_id,
        outcome=enum_name(common_pb2.Outcome, decision.outcome),
        reason_code=enum_name(common_pb2.ReasonCode, decision.reason_code),
        decided_at=_decided_at(decision, record),
        payload=record.value or b"",
        test_mode=event.test_mode or decision.test_mode,
    )


def _decided_at(decision: common_pb2.Decision, record: Record) -> datetime:
    """The verifier's decide time, else the broker's timestamp, else now: a record that
    decodes is stored, whatever its times say (one raising here would stop the sink)."""
    try:
        if decision.HasField("decide_time"):
            return decision.decide_time.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        _log.warning("audit_decide_time_invalid", partition=record.partition, offset=record.offset)
    try:
        return datetime.fromtimestamp(record.timestamp / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return datetime.now(UTC)


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
        self._task = BackgroundTask("audit-sink", self._run)

    async def start(self) -> None:
        """Start consuming in the background."""
        self._task.start()

    async def stop(self) -> None:
        """Stop consuming; uncommitted records are read again by the next consumer."""
        await self._task.stop()

    async def _run(self) -> None:
        await consume_forever(self._new_loop, failure_event="audit_sink_failed")

    def _new_loop(self) -> ConsumeLoop:
        """One poll is one INSERT; a consumer that fails is replaced after a backoff."""
        consumer = new_consumer(
            self._bootstrap, self._group_id, security=self._security, fetch=_FETCH
        )
        return ConsumeLoop(
            "audit-sink",
            consumer,
            [self._topic],
            self._store,
            poll_ms=_POLL_MS,
            max_records=_BATCH_RECORDS,
            drain_seconds=_DRAIN_SECONDS,
            commit_interval=_COMMIT_INTERVAL_SECONDS,
        )

    async def _store(self, records: list[Record]) -> None:
        """Insert the records' rows; a database that is away is waited for (RetryLater).
        Traced, each record's span is a child of the Verify that produced it."""
        rows = [row for record in records if (row := to_row(record)) is not None]
        with consumer_spans(self._topic, (record.headers for record in records)):
            try:
                try:
                    await decisions.insert(self._pool, rows)
                except _ROW_ERRORS:
                    await self._insert_one_by_one(rows)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                _log.warning("audit_insert_failed", error=type(exc).__name__)
                raise RetryLater("the audit table is unavailable") from exc

    async def _insert_one_by_one(self, rows: list[DecisionRow]) -> None:
        """Store what the database accepts; log (by event id only) and skip what it rejects."""
        for row in rows:
            try:
                await decisions.insert(self._pool, [row])
            except _ROW_ERRORS as exc:
                _log.error(
                    "audit_row_rejected", event_id=row.event_id[:64], error=type(exc).__name__
                )
