"""What happens to an event and to each of its deliveries: fan-out, attempt, retry, dead.

    events batch ─▶ one INSERT of every delivery ─▶ lanes.put (per endpoint) ─▶ offsets commit
    retry task   ─▶ its row, pending again ──────▶ lanes.put
    lane worker  ─▶ breaker? sign, POST ─▶ step ─▶ writer (tasks produced, then one txn)

An event's handling ends once its deliveries are durable rows queued in their lanes (or set
aside): it never waits for a POST. A delivery queued here whose process dies stays `pending` in
PostgreSQL and is reclaimed by `reclaim` in any dispatcher, and so is one set aside while its
endpoint fails; a retried delivery is made `pending` again before it is queued (its task's
offset is committed once it is queued). Stale duplicates are recognised by their attempt number,
and the receiver deduplicates by the unchanged webhook-id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import structlog
from google.protobuf.message import DecodeError
from opentelemetry.context import Context

from behalf.common.kafka import Topics
from behalf.common.tracing import Headers, extract, resumed
from behalf.dispatcher import metrics
from behalf.dispatcher.batch_store import AttemptWrite, BatchStore, ParkWrite
from behalf.dispatcher.breaker import Breaker
from behalf.dispatcher.consumer import RetryLater
from behalf.dispatcher.delivery import HttpDeliverer
from behalf.dispatcher.delivery_spans import traced_attempts
from behalf.dispatcher.delivery_stats import DeliveryStats
from behalf.dispatcher.endpoint_health import EndpointHealth
from behalf.dispatcher.lanes import EndpointLanes, LaneSettings, Refusal
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
from behalf.dispatcher.writer import Enqueue, OutcomeWriter
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
        return [replace(t, disabled=True) if t.endpoint_id in suspended else t for t in targets]


class Pipeline:
    """Turns source events and retry tasks into attempts and durable outcomes."""

    def __init__(
        self,
        *,
        store: DeliveryStore,
        batches: BatchStore,
        writer: OutcomeWriter,
        targets: TargetCache,
        deliverer: HttpDeliverer,
        lanes: LaneSettings,
        policy: RetryPolicy,
        topics: Topics,
        ahead_patience_seconds: float = 120.0,
        report_gone: Callable[[str, str, str], Awaitable[bool]] | None = None,
        health: EndpointHealth | None = None,
    ) -> None:
        self._store = store
        self._batches = batches
        self._writer = writer
        self._targets = targets
        self._deliverer = deliverer
        self.lanes = EndpointLanes(lanes, traced_attempts(self.attempt))
        # How long one call's deliveries of one tenant may wait for room in full lanes, in all:
        # long enough for a healthy burst to drain into its lanes rather than go to a retry
        # tier, short enough that one tenant's slow endpoints hold up a poll of every tenant's
        # events for no longer.
        self._wait_per_tenant = 2 * lanes.stall_seconds
        self._policy = policy
        self._topics = topics
        self._ahead_patience = ahead_patience_seconds
        self._report_gone = report_gone
        self._health = health or EndpointHealth(0)
        self.stats = DeliveryStats()
        self._queueing = asyncio.Lock()

    # -- intake ------------------------------------------------------------------------------

    async def handle_sources(self, records: Sequence[tuple[str, bytes, Headers | None]]) -> None:
        """A batch of decision and lifecycle events (topic, value, headers): one write of every
        delivery, then each queued in its endpoint's lane (or parked) in the trace context its
        event's headers carry; returns without waiting for any POST."""
        fanout: list[tuple[WebhookMessage, list[str]]] = []
        wanted: dict[tuple[str, str], Target] = {}
        contexts: dict[str, Context] = {}
        for topic, value, headers in records:
            try:
                message, changed_endpoint = self._decode_source(topic, value)
            except (DecodeError, UnsupportedEvent) as exc:
                _log.warning("event_skipped", topic=topic, reason=str(exc))
                metrics.SKIPPED.labels("event").inc()
                continue
            context = extract(headers)
            if context is not None:
                contexts[message.event_id] = context
            if message.event_type.startswith(WEBHOOK_EVENT_PREFIX):
                if changed_endpoint and message.event_type in _ENDPOINT_BACK:
                    await self._store.lift_suspensions(message.tenant_id, changed_endpoint)
                    self._health.forget(changed_endpoint)
                self._targets.invalidate(message.tenant_id)
            with resumed(context):
                targets = await self._targets.targets(message.tenant_id)
            matching = [t for t in targets if t.wants(message.event_type)]
            for t in matching:
                wanted[(message.tenant_id, t.endpoint_id)] = t
            if matching:
                fanout.append((message, [t.endpoint_id for t in matching]))
        # Endpoints failing here: their deliveries are parked (durable, one compact record per
        # endpoint) until reclaim finds the endpoint recovered; one whose breaker has cooled
        # down gets its oldest parked delivery back as the probe.
        now = time.monotonic()
        failing = set(self.lanes.failing(now))
        blocked = {
            endpoint
            for (_tenant, endpoint), t in wanted.items()
            if not t.disabled and t.secrets and endpoint in failing
        }
        if blocked:
            metrics.DELIVERIES.labels("parked").inc(
                sum(e in blocked for _m, endpoints in fanout for e in endpoints)
            )
        rows = await self._batches.create_for_events(fanout, parked=blocked)
        # Batches write concurrently but queue one at a time, so they never compete for a
        # full lane's room (each waits for the lane to drain, then parks what still waits).
        async with self._queueing:
            await self._queue(
                [
                    (row, wanted[(row.tenant_id, row.endpoint_id)])
                    for row in rows
                    if row.state == PENDING
                ],
                contexts,
            )
        if probing := blocked.intersection(self.lanes.probing(time.monotonic())):
            await self._queue(await self._targeted(await self._batches.unpark_probes(probing)))

    async def handle_task(self, tier: str, value: bytes, headers: Headers | None = None) -> None:
        """A retry task that is due: queue it unless it is stale (in the trace context of the
        attempt that enqueued it, which its headers carry)."""
        try:
            task = events_pb2.DeliveryTask.FromString(value)
        except DecodeError:
            _log.warning("task_skipped", tier=tier, reason="undecodable")
            metrics.SKIPPED.labels("retry").inc()
            return
        if task.due_time.seconds:
            lag = time.time() - task.due_time.ToDatetime(UTC).timestamp()
            metrics.RETRY_LAG_SECONDS.labels(tier).observe(max(lag, 0.0))
        if self.lanes.holds(task.delivery_id):
            return  # already queued here (reclaimed, or its event came again)
        row = await self._store.get(task.delivery_id)
        if row is None or row.state not in OPEN_STATES or row.attempt_count > task.attempt:
            return  # already moved on: a duplicate or superseded task
        if row.attempt_count < task.attempt:
            # The attempt that enqueued this task is not recorded yet: its write is still
            # buffered, or its process died (then the row is reclaimed). Wait a while.
            age = time.time() - task.due_time.ToDatetime(UTC).timestamp()
            if age < self._ahead_patience:
                raise RetryLater(f"{row.delivery_id}: attempt {task.attempt} not recorded yet")
            _log.warning("task_dropped", delivery_id=row.delivery_id, reason="never recorded")
            metrics.SKIPPED.labels("lost_retry").inc()  # reclaim offers it again, later
            return
        if row.state != PENDING:
            # Pending again before it is queued: the task's offset is committed once it is
            # queued, so if this process dies before the attempt is recorded, reclaim must be
            # able to find it. Its last error stays as it was.
            requeue = ParkWrite(row, PENDING, None, row.last_error)
            if not await self._writer.submit(requeue, None, "requeued"):
                return  # moved on meanwhile
            row = replace(row, state=PENDING)
        with resumed(extract(headers)):
            target = await self._targets.target(row.tenant_id, row.endpoint_id)
            await self._queue([(row, target)], arrived_on=tier)

    async def reclaim(self, older_than_seconds: float, limit: int = 1000) -> int:
        """Queue parked deliveries whose endpoint is not failing here, one parked delivery as
        the probe of each endpoint whose breaker has cooled down, pending deliveries a dead
        process left behind, and retrying ones whose task was dropped (`handle_task`); how many
        of those last two were found."""
        now = time.monotonic()
        unparked = await self._batches.unpark(older_than_seconds, self.lanes.failing(now), limit)
        if unparked:
            _log.info("deliveries_unparked", count=unparked)
        probes = await self._batches.unpark_probes(self.lanes.probing(now))
        await self._queue(await self._targeted(probes))
        rows = await self._batches.reclaim(
            older_than_seconds,
            self.lanes.held(),
            limit,
            retry_lost_after_seconds=self._ahead_patience + older_than_seconds,
        )
        await self._queue(await self._targeted(rows))
        if rows:
            _log.info("deliveries_reclaimed", count=len(rows))
        return len(rows)

    async def _targeted(
        self, rows: Sequence[DeliveryRow]
    ) -> list[tuple[DeliveryRow, Target | None]]:
        return [(row, await self._targets.target(row.tenant_id, row.endpoint_id)) for row in rows]

    async def _queue(
        self,
        deliveries: Sequence[tuple[DeliveryRow, Target | None]],
        contexts: Mapping[str, Context] | None = None,
        *,
        arrived_on: str = "",
    ) -> None:
        """Queue each open delivery not queued here yet in its endpoint's lane, or set it
        aside (durably, before this returns), in the trace context of its event.

        Deliveries whose lane has room go first; then those whose lane is full but draining
        wait for room in turn, each tenant's for `wait_per_tenant` in all. So a tenant whose
        endpoint drains slowly (it answers, but late) holds up neither other tenants'
        deliveries given here nor, under intake's lock, the next poll for longer than that;
        what still finds its lane full is deferred as busy. `arrived_on` is the retry tier a
        task came on."""
        contexts = contexts or {}
        settled: list[asyncio.Future[bool] | None] = []
        waiting: list[tuple[DeliveryRow, Target]] = []
        for row, target in deliveries:
            if self.lanes.holds(row.delivery_id):
                continue
            if target is None or target.disabled or not target.secrets:
                reason = "endpoint removed" if target is None else "endpoint disabled"
                settled.append(self._finish_without_attempt(row, reason))
                continue
            with resumed(contexts.get(row.event_id)):
                verdict = self.lanes.offer(row, target)
            if verdict is None:
                waiting.append((row, target))
            else:
                settled.append(self._set_aside(row, verdict, arrived_on))
        waited: dict[str, float] = {}
        for row, target in waiting:
            started = time.monotonic()
            until = started + self._wait_per_tenant - waited.get(row.tenant_id, 0.0)
            with resumed(contexts.get(row.event_id)):
                verdict = await self.lanes.put(row, target, until)
            waited[row.tenant_id] = waited.get(row.tenant_id, 0.0) + time.monotonic() - started
            settled.append(self._set_aside(row, verdict, arrived_on))
        await _durable(settled)

    def _decode_source(self, topic: str, value: bytes) -> tuple[WebhookMessage, str]:
        if topic == self._topics.decisions:
            return from_decision(events_pb2.DecisionEvent.FromString(value)), ""
        if topic == self._topics.lifecycle:
            event = events_pb2.LifecycleEvent.FromString(value)
            endpoint_id = event.endpoint.endpoint_id if event.HasField("endpoint") else ""
            return from_lifecycle(event), endpoint_id
        raise UnsupportedEvent(f"no events expected on {topic}")

    def _set_aside(
        self, row: DeliveryRow, verdict: Refusal, arrived_on: str
    ) -> asyncio.Future[bool] | None:
        """Nothing for a queued delivery; else the future of its durable parking."""
        if verdict is Refusal.NONE:
            return None
        if verdict is Refusal.BUSY:
            return self._defer(row, arrived_on)
        return self._park(row)

    # -- a lane's worker ---------------------------------------------------------------------

    async def attempt(self, row: DeliveryRow, target: Target, breaker: Breaker) -> None:
        """Attempt one delivery (or park it while the breaker is open); outcomes are written
        by the writer, in a batch."""
        if not breaker.allow(time.monotonic()):
            self._park(row)
            return
        signed_at = time.time()
        try:
            secrets = target.signing_secrets(signed_at)
            headers = signed_headers(row.webhook_id, int(signed_at), row.payload, secrets)
        except SigningError as exc:
            breaker.record(True, time.monotonic())  # not the endpoint's fault
            self._finish_without_attempt(row, str(exc))
            return
        outcome = await self._deliverer.post(
            target.url, headers, row.payload, tenant_id=row.tenant_id
        )
        metrics.ATTEMPT_SECONDS.observe(outcome.latency_seconds)
        succeeded = outcome.succeeded
        breaker.record(succeeded, time.monotonic())
        self.stats.record(row.tenant_id, row.endpoint_id, outcome, time.time())
        if outcome.permanent:
            step = Step(Next.DEAD, reason=outcome.error)
        else:
            step = self._policy.after_attempt(
                row.attempts_in_cycle + 1, outcome.status_code, outcome.retry_after
            )
        now = datetime.now(UTC)
        if step.next is Next.RETRY:
            due = now + timedelta(seconds=step.delay_seconds)
            enqueue = Enqueue(self._topics.retry(step.tier), row.attempt_count + 1, due)
            write = AttemptWrite(row, outcome, RETRYING, due)
        elif step.next is Next.DEAD:
            enqueue = Enqueue(self._topics.dead_letter, row.attempt_count + 1, now)
            write = AttemptWrite(row, outcome, DEAD, None)
        else:
            enqueue, write = None, AttemptWrite(row, outcome, SUCCEEDED, None)
        self._writer.submit(write, enqueue, step.next.value, step.reason or outcome.error)
        failing = self._health.record(row.endpoint_id, succeeded, time.monotonic())
        if outcome.status_code == GONE_STATUS:
            await self._suspend(row, "HTTP 410 Gone")
        elif failing:
            await self._suspend(row, "every attempt failed for the whole health window")

    # -- parking -----------------------------------------------------------------------------

    def _park(self, row: DeliveryRow) -> asyncio.Future[bool] | None:
        """Set aside a delivery to a failing endpoint (breaker open, requests hanging): it stays
        `pending` in PostgreSQL, which costs nothing for a new delivery (its row is pending
        already) and one row in a batched UPDATE for a retried one; `reclaim` offers it again
        once it is `reclaim_after` old, so a broken endpoint's backlog costs neither Kafka
        records nor a write per delivery per cycle."""
        metrics.DELIVERIES.labels("parked").inc()
        if row.state == PENDING:
            return None
        return self._writer.submit(
            ParkWrite(row, PENDING, None, "endpoint failing (circuit open or hanging)"),
            None,
            "parked",
        )

    def _defer(self, row: DeliveryRow, arrived_on: str) -> asyncio.Future[bool]:
        """Set aside a busy endpoint's overflow, without an attempt, on a retry tier: the one
        its next failure would use, and for a task that came on a tier (`arrived_on`) a later
        one, so a delivery that keeps finding its endpoint busy backs off instead of cycling
        the first tier forever (each pass a record on a topic every tenant shares)."""
        step = self._policy.deferral(row.attempts_in_cycle, after_tier=arrived_on)
        due = datetime.now(UTC) + timedelta(seconds=step.delay_seconds)
        return self._writer.submit(
            ParkWrite(row, RETRYING, due, "endpoint busy"),
            Enqueue(self._topics.retry(step.tier), row.attempt_count, due),
            "deferred",
        )

    def _finish_without_attempt(self, row: DeliveryRow, reason: str) -> asyncio.Future[bool]:
        now = datetime.now(UTC)
        return self._writer.submit(
            ParkWrite(row, DEAD, None, reason),
            Enqueue(self._topics.dead_letter, row.attempt_count, now),
            "dead",
            reason,
        )

    async def _suspend(self, row: DeliveryRow, reason: str) -> None:
        """Stop sending to the endpoint here at once, and have the registry disable it (if it
        cannot be told now, `report_suspensions` tells it later)."""
        await self._store.suspend_endpoint(row.tenant_id, row.endpoint_id, reason)
        self._targets.invalidate(row.tenant_id)
        await self._report_suspension(row.tenant_id, row.endpoint_id, reason)
        _log.warning(
            "endpoint_suspended",
            endpoint_id=row.endpoint_id,
            tenant_id=row.tenant_id,
            reason=reason,
        )

    async def report_suspensions(self, limit: int = 100) -> int:
        """Report again the suspensions the registry has not acknowledged: until it has, the
        endpoint is enabled there and disabled here, and an admin has no way to lift it (enabling
        an enabled endpoint changes nothing). How many were acknowledged now."""
        reported = 0
        for tenant_id, endpoint_id, reason in await self._store.unreported_suspensions(limit):
            reported += await self._report_suspension(tenant_id, endpoint_id, reason)
        return reported

    async def _report_suspension(self, tenant_id: str, endpoint_id: str, reason: str) -> bool:
        if self._report_gone is None:
            return False
        if not await self._report_gone(tenant_id, endpoint_id, reason):
            return False
        await self._store.mark_suspension_reported(tenant_id, endpoint_id)
        return True


async def _durable(futures: Sequence[asyncio.Future[bool] | None]) -> None:
    """Wait until every parking was written (the writer retries until it is)."""
    pending = [f for f in futures if f is not None]
    if pending:
        await asyncio.gather(*pending)
