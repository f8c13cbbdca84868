"""A lane per endpoint: a bounded queue, its own workers, rate limit and circuit breaker.

    event batch ──put──▶ [lane A: queue ≤ limit] ──≤ concurrency workers──▶ POST to A
                └─put──▶ [lane B: queue ≤ limit] ──≤ concurrency workers──▶ POST to B

`offer` queues a delivery in its endpoint's lane and returns at once; the caller's work for that
delivery ends there (its row is already durable). A full lane that is draining is worth waiting
for a little (`put`: back-pressure, so a burst to a healthy endpoint is delivered, not parked;
the caller gives the deadline, so one slowly draining lane cannot hold up its other work); a lane
whose breaker is open, whose latest attempt failed, or whose requests have stopped finishing for
`stall_seconds` (a hanging endpoint) refuses at once and the caller sets the delivery aside. So
no endpoint ever waits on another endpoint's POST: a hanging endpoint's timeouts finish
requests too, but they do not make its lane look like one worth waiting for.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from opentelemetry.context import Context

from behalf.common.tracing import current, resumed
from behalf.dispatcher.breaker import CLOSED, Breaker
from behalf.dispatcher.store import DeliveryRow
from behalf.dispatcher.targets import Target

_log = structlog.get_logger("dispatcher")

Work = Callable[[DeliveryRow, Target, Breaker], Awaitable[None]]
"""Attempts one delivery (or parks it when `breaker` refuses); must not raise."""


class Refusal(enum.Enum):
    """What `put` did: queued (NONE), or why it refused."""

    NONE = "queued"
    BUSY = "busy"  # full and draining too slowly
    STALLED = "stalled"  # requests out and none finishing (hanging), or the latest one failed
    OPEN = "open"  # the breaker is open


@dataclass(frozen=True)
class LaneSettings:
    """Per-endpoint bounds."""

    concurrency: int = 8
    queue_limit: int = 256
    rate_per_second: float = 0.0  # 0: unlimited
    burst: int = 50
    stall_seconds: float = 1.0
    breaker_threshold: int = 5
    breaker_cooldown_seconds: float = 5.0
    breaker_max_cooldown_seconds: float = 60.0


class TokenBucket:
    """A token bucket; `take` sleeps until a token is available."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._capacity = float(max(burst, 1))
        self._tokens = self._capacity
        self._stamp = time.monotonic()

    def empty(self, now: float) -> bool:
        """No token is there now: whoever wants one waits for the rate."""
        self._refill(now)
        return self._tokens < 1.0

    def _refill(self, now: float) -> None:
        self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    async def take(self) -> None:
        while True:
            self._refill(time.monotonic())
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return
            await asyncio.sleep((1.0 - self._tokens) / self._rate)


class _Lane:
    def __init__(self, settings: LaneSettings, rate: float) -> None:
        # Each delivery with the trace context it was queued in (None while tracing is off).
        self.queue: deque[tuple[DeliveryRow, Target, Context | None]] = deque()
        self.workers = 0
        self.in_flight = 0
        self.last_done = time.monotonic()
        self.room = asyncio.Event()
        self.rate = rate
        self.bucket = TokenBucket(rate, settings.burst) if rate > 0 else None
        self.breaker = Breaker(
            settings.breaker_threshold,
            settings.breaker_cooldown_seconds,
            settings.breaker_max_cooldown_seconds,
        )

    def stalled(self, now: float, stall_seconds: float) -> bool:
        """Requests are out and none has finished for `stall_seconds` (counted from the
        later of the last finish and the moment the lane became busy)."""
        return self.in_flight > 0 and now - self.last_done > stall_seconds

    def draining(self, now: float, stall_seconds: float) -> bool:
        """Worth waiting for: not stalled, and its latest attempt succeeded."""
        return self.breaker.failures == 0 and not self.stalled(now, stall_seconds)

    def throttled(self, now: float) -> bool:
        """Its own rate limit holds it back now: it drains no faster than its tenant set."""
        return self.bucket is not None and self.bucket.empty(now)


class EndpointLanes:
    """Every endpoint's lane; `work` runs one delivery in a lane's worker."""

    def __init__(self, settings: LaneSettings, work: Work) -> None:
        self._settings = settings
        self._work = work
        self._lanes: dict[str, _Lane] = {}
        self._held: set[str] = set()
        self._workers: set[asyncio.Task[None]] = set()

    def holds(self, delivery_id: str) -> bool:
        """The delivery is queued or being attempted here."""
        return delivery_id in self._held

    def held(self) -> list[str]:
        return list(self._held)

    def breaker(self, endpoint_id: str) -> Breaker | None:
        lane = self._lanes.get(endpoint_id)
        return lane.breaker if lane is not None else None

    def failing(self, now: float) -> list[str]:
        """Endpoints worth no backlog here: `put` would refuse at once, or the breaker is not
        closed (one that has cooled down wants a probe, not a backlog)."""
        return [
            endpoint
            for endpoint, lane in self._lanes.items()
            if lane.breaker.state != CLOSED or self._refusal(lane, now) not in (None, Refusal.BUSY)
        ]

    def probing(self, now: float) -> list[str]:
        """Failing endpoints whose breaker would let a probe go now."""
        return [
            endpoint
            for endpoint, lane in self._lanes.items()
            if lane.breaker.state != CLOSED and self._refusal(lane, now) is None
        ]

    def _refusal(self, lane: _Lane, now: float) -> Refusal | None:
        """Why `offer` refuses at once, if it does: the breaker lets no attempt go, or the lane
        is full and not worth waiting for. Intake's waits for room share one budget with every
        tenant's deliveries behind them, so a full lane held back by its own rate limit (which
        its tenant sets, as low as it likes) is busy at once, not waited for."""
        if lane.breaker.blocked(now):
            return Refusal.OPEN
        full = len(lane.queue) >= self._settings.queue_limit
        if full and not lane.draining(now, self._settings.stall_seconds):
            return Refusal.STALLED
        if full and lane.throttled(now):
            return Refusal.BUSY
        return None

    def _lane(self, target: Target) -> _Lane:
        rate = target.rate_per_second or self._settings.rate_per_second
        lane = self._lanes.get(target.endpoint_id)
        if lane is None:
            lane = self._lanes[target.endpoint_id] = _Lane(self._settings, rate)
        elif lane.rate != rate:  # the endpoint's rate limit changed
            lane.rate = rate
            lane.bucket = TokenBucket(rate, self._settings.burst) if rate > 0 else None
        return lane

    def offer(self, row: DeliveryRow, target: Target) -> Refusal | None:
        """Queue `row` in its endpoint's lane if it has room (NONE), or why the lane refuses at
        once (park it); None when the lane is full but draining, worth waiting for (`put`). A
        delivery already queued or being attempted here is not queued twice (NONE): a late
        retry task and reclaim may both offer it, and each copy would POST."""
        if row.delivery_id in self._held:
            return Refusal.NONE
        lane = self._lane(target)
        refusal = self._refusal(lane, time.monotonic())
        if refusal is not None:
            return refusal
        if len(lane.queue) >= self._settings.queue_limit:
            return None
        lane.queue.append((row, target, current()))
        self._held.add(row.delivery_id)
        if lane.workers < self._settings.concurrency:
            self._spawn(lane)
        return Refusal.NONE

    async def put(self, row: DeliveryRow, target: Target, until: float | None = None) -> Refusal:
        """`offer`, waiting for room in a full lane that is draining until `until` (a
        `time.monotonic()` instant; one stall period from now by default), then BUSY."""
        deadline = time.monotonic() + self._settings.stall_seconds if until is None else until
        while (verdict := self.offer(row, target)) is None:
            now = time.monotonic()
            if now >= deadline:
                return Refusal.BUSY
            lane = self._lanes[target.endpoint_id]
            lane.room.clear()
            with contextlib.suppress(TimeoutError):  # then stalled, busy or room: look again
                await asyncio.wait_for(lane.room.wait(), deadline - now)
        return verdict

    def _spawn(self, lane: _Lane) -> None:
        lane.workers += 1
        task = asyncio.create_task(self._run(lane))
        self._workers.add(task)
        task.add_done_callback(self._workers.discard)

    async def _run(self, lane: _Lane) -> None:
        try:
            while lane.queue:
                row, target, trace_context = lane.queue.popleft()
                lane.room.set()
                try:
                    if lane.bucket is not None:
                        await lane.bucket.take()
                    if lane.in_flight == 0:  # busy again: the stall clock starts now
                        lane.last_done = time.monotonic()
                    lane.in_flight += 1
                    with resumed(trace_context):
                        await self._work(row, target, lane.breaker)
                except Exception:
                    _log.exception("delivery_worker_failed", delivery_id=row.delivery_id)
                finally:
                    lane.in_flight = max(lane.in_flight - 1, 0)
                    lane.last_done = time.monotonic()
                    self._held.discard(row.delivery_id)
        finally:
            lane.workers -= 1

    async def stop(self, drain_seconds: float) -> None:
        """Stop taking work: attempts under way get `drain_seconds`; queued deliveries stay
        pending in PostgreSQL, where the next process reclaims them."""
        for lane in self._lanes.values():
            for row, _target, _context in lane.queue:
                self._held.discard(row.delivery_id)
            lane.queue.clear()
        if self._workers:
            _done, pending = await asyncio.wait(set(self._workers), timeout=drain_seconds)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
