"""What happens to an event and to each of its deliveries: fan-out, attempt, retry, dead."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

import structlog
from google.protobuf.message import DecodeError

from behalf.common.kafka import Topics
from behalf.dispatcher import metrics
from behalf.dispatcher.attempts import AttemptOutcome
from behalf.dispatcher.consumer import RetryLater
from behalf.dispatcher.delivery import EndpointLimiter, HttpDeliverer
from behalf.dispatcher.endpoint_health import EndpointHealth
from behalf.dispatcher.payloads import (
    UnsupportedEvent,
    WebhookMessage,
    from_decision,
    from_lifecycle,
)
from behalf.dispatcher.retry_policy import GONE_STATUS, Next, RetryPolicy, Step
from behalf.dispatcher.signing import SigningError, signed_headers
from behalf.dispatcher.store import (
    DEAD,
    OPEN_STATES,
    PENDING,
    RETRYING,
    SUCCEEDED,
    DeliveryRow,
    DeliveryStore,
)
from behalf.dispatcher.targets import WEBHOOK_EVENT_PREFIX, Target, TargetCache, TargetSource
from behalf.dispatcher.tasks import TaskSink, task_for
from behalf.v1 import events_pb2

_log = structlog.get_logger("dispatcher")
# A change through the registry that re-enables or edits an endpoint lifts a local 410 suspension.
_ENDPOINT_BACK = frozenset({"webhook.endpoint_enabled", "webhook.endpoint_updated"})


class SuspensionAwareSource:
    """Registry targets, with endpoints that answered 410 Gone shown as disabled."""

    def __init__(self, source: TargetSource, store: DeliveryStore) -> None:
        self._source = source
        self._store = store

    async def list_targets(self, tenant_id: str) -> Sequence[Target]:
        targets = await self._source.list_targets(tenant_id)
        suspended = await self._store.suspended(tenant_id)
        if not suspended:
            return targets
        return [
            Target(t.endpoint_id, t.tenant_id, t.url, t.event_types, True, t.secrets)
            if t.endpoint_id in suspended
            else t
            for t in targets
        ]


class Pipeline:
    """Turns source events and retry tasks into attempts and durable outcomes.

    Order per attempt: POST, then (on failure) a durable produce to the next retry topic or the
    dead-letter topic, then one transaction recording the attempt and the new state. A crash
    anywhere leaves the source record uncommitted, so it is processed again; stale duplicates
    are recognised by their attempt number and dropped, and the receiver deduplicates by the
    unchanged `webhook-id`.
    """

    def __init__(
        self,
        *,
        store: DeliveryStore,
        targets: TargetCache,
        deliverer: HttpDeliverer,
        limiter: EndpointLimiter,
        policy: RetryPolicy,
        sink: TaskSink,
        topics: Topics,
        ahead_patience_seconds: float = 120.0,
        report_gone: Callable[[str, str, str], Awaitable[None]] | None = None,
        health: EndpointHealth | None = None,
    ) -> None:
        self._store = store
        self._targets = targets
        self._deliverer = deliverer
        self._limiter = limiter
        self._policy = policy
        self._sink = sink
        self._topics = topics
        self._ahead_patience = ahead_patience_seconds
        self._report_gone = report_gone
        self._health = health or EndpointHealth(0)

    async def handle_source(self, topic: str, value: bytes) -> None:
        """A decision or lifecycle event: fan out to matching endpoints and deliver."""
        try:
            message, changed_endpoint = self._decode_source(topic, value)
        except (DecodeError, UnsupportedEvent) as exc:
            _log.warning("event_skipped", topic=topic, reason=str(exc))
            return
        if message.event_type.startswith(WEBHOOK_EVENT_PREFIX):
            if changed_endpoint and message.event_type in _ENDPOINT_BACK:
                await self._store.lift_suspensions(message.tenant_id, changed_endpoint)
                self._health.forget(changed_endpoint)
            self._targets.invalidate(message.tenant_id)
        targets = {
            t.endpoint_id: t
            for t in await self._targets.targets(message.tenant_id)
            if t.wants(message.event_type)
        }
        rows = await self._store.create_for_event(message, list(targets))
        await asyncio.gather(
            *(self.process(row, targets[row.endpoint_id]) for row in rows if row.state == PENDING)
        )

    async def handle_task(self, tier: str, value: bytes) -> None:
        """A retry task that is due: attempt it unless it is stale."""
        try:
            task = events_pb2.DeliveryTask.FromString(value)
        except DecodeError:
            _log.warning("task_skipped", tier=tier, reason="undecodable")
            return
        if task.due_time.seconds:
            lag = time.time() - task.due_time.ToDatetime(UTC).timestamp()
            metrics.RETRY_LAG_SECONDS.labels(tier).observe(max(lag, 0.0))
        row = await self._store.get(task.delivery_id)
        if row is None or row.state not in OPEN_STATES or row.attempt_count > task.attempt:
            return  # already moved on: a duplicate or superseded task
        if row.attempt_count < task.attempt:
            # The attempt that enqueued this task is not recorded yet: its transaction is still
            # running, or its process died (then the source record comes again). Wait a while.
            age = time.time() - task.due_time.ToDatetime(UTC).timestamp()
            if age < self._ahead_patience:
                raise RetryLater(f"{row.delivery_id}: attempt {task.attempt} not recorded yet")
            _log.warning("task_dropped", delivery_id=row.delivery_id, reason="never recorded")
            return
        await self.process(row, await self._targets.target(row.tenant_id, row.endpoint_id))

    def _decode_source(self, topic: str, value: bytes) -> tuple[WebhookMessage, str]:
        if topic == self._topics.decisions:
            return from_decision(events_pb2.DecisionEvent.FromString(value)), ""
        if topic == self._topics.lifecycle:
            event = events_pb2.LifecycleEvent.FromString(value)
            endpoint_id = event.endpoint.endpoint_id if event.HasField("endpoint") else ""
            return from_lifecycle(event), endpoint_id
        raise UnsupportedEvent(f"no events expected on {topic}")

    async def process(self, row: DeliveryRow, target: Target | None) -> None:
        """Attempt one open delivery (or park it) and record the outcome durably."""
        if target is None or target.disabled or not target.secrets:
            reason = "endpoint removed" if target is None else "endpoint disabled"
            await self._finish_without_attempt(row, reason)
            return
        if self._limiter.saturated(row.endpoint_id):
            await self._defer(row)
            return
        async with self._limiter.slot(row.endpoint_id):
            try:
                headers = signed_headers(
                    row.webhook_id, int(time.time()), row.payload, target.secrets
                )
            except SigningError as exc:
                await self._finish_without_attempt(row, str(exc))
                return
            outcome = await self._deliverer.post(target.url, headers, row.payload)
        metrics.ATTEMPT_SECONDS.observe(outcome.latency_seconds)
        attempt_in_cycle = row.attempts_in_cycle + 1
        if outcome.permanent:
            step = Step(Next.DEAD, reason=outcome.error)
        else:
            step = self._policy.after_attempt(
                attempt_in_cycle, outcome.status_code, outcome.retry_after
            )
        await self._apply(row, outcome, step)

    async def _apply(self, row: DeliveryRow, outcome: AttemptOutcome, step: Step) -> None:
        now = datetime.now(UTC)
        due: datetime | None = None
        if step.next is Next.RETRY:
            due = now + timedelta(seconds=step.delay_seconds)
            await self._enqueue(self._topics.retry(step.tier), row, row.attempt_count + 1, due)
            state = RETRYING
        elif step.next is Next.DEAD:
            await self._enqueue(self._topics.dead_letter, row, row.attempt_count + 1, now)
            state = DEAD
        else:
            state = SUCCEEDED
        recorded = await self._store.record_attempt(row, outcome, state=state, next_attempt_at=due)
        metrics.DELIVERIES.labels(step.next.value).inc()
        if state == DEAD and recorded:
            metrics.DEAD_LETTERS.inc()
            _log.warning(
                "delivery_dead",
                delivery_id=row.delivery_id,
                endpoint_id=row.endpoint_id,
                tenant_id=row.tenant_id,
                reason=step.reason or outcome.error,
            )
        succeeded = state == SUCCEEDED
        failing = self._health.record(row.endpoint_id, succeeded, time.monotonic())
        if outcome.status_code == GONE_STATUS:
            await self._suspend(row, "HTTP 410 Gone")
        elif failing:
            await self._suspend(row, "every attempt failed for the whole health window")

    async def _suspend(self, row: DeliveryRow, reason: str) -> None:
        """Stop sending to the endpoint here at once, and have the registry disable it."""
        await self._store.suspend_endpoint(row.tenant_id, row.endpoint_id, reason)
        self._targets.invalidate(row.tenant_id)
        if self._report_gone is not None:
            await self._report_gone(row.tenant_id, row.endpoint_id, reason)
        _log.warning(
            "endpoint_suspended",
            endpoint_id=row.endpoint_id,
            tenant_id=row.tenant_id,
            reason=reason,
        )

    async def _defer(self, row: DeliveryRow) -> None:
        step = self._policy.deferral(row.attempts_in_cycle)
        due = datetime.now(UTC) + timedelta(seconds=step.delay_seconds)
        await self._enqueue(self._topics.retry(step.tier), row, row.attempt_count, due)
        await self._store.park(row, state=RETRYING, next_attempt_at=due, reason="endpoint busy")
        metrics.DELIVERIES.labels("deferred").inc()

    async def _finish_without_attempt(self, row: DeliveryRow, reason: str) -> None:
        await self._enqueue(self._topics.dead_letter, row, row.attempt_count, datetime.now(UTC))
        if await self._store.park(row, state=DEAD, next_attempt_at=None, reason=reason):
            metrics.DELIVERIES.labels("dead").inc()
            metrics.DEAD_LETTERS.inc()
            _log.warning("delivery_dead", delivery_id=row.delivery_id, reason=reason)

    async def _enqueue(self, topic: str, row: DeliveryRow, attempt: int, due: datetime) -> None:
        await self._sink.send(topic, [task_for(row, attempt, due)])
