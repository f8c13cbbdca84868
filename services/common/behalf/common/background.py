"""Long-running loops: a capped exponential backoff and a task that starts and stops once.

Every service runs loops beside its RPCs (the outbox relay, the audit sink, the policy watch,
the dispatcher's consumers, sweepers). Each one retries failures after a delay that doubles up
to a cap and resets on success, and is started by the app and cancelled on drain.

    backoff = Backoff(first=0.2, cap=5.0)
    while True:
        try:
            await step()
            backoff.reset()
        except Exception:
            log.warning("step_failed", retry_in=backoff.delay)
            await backoff.sleep()

    task = BackgroundTask("outbox-relay", relay.run)
    task.start()
    ...
    await task.stop()

    BackgroundTask("retention", every(3600.0, retention.prune, log, "prune_failed"))
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog


class Backoff:
    """A delay that doubles after each failure up to `cap` and goes back to `first` on success."""

    __slots__ = ("_delay", "cap", "first")

    def __init__(self, first: float, cap: float) -> None:
        if not 0 < first <= cap:
            raise ValueError(f"need 0 < first <= cap, got first={first} cap={cap}")
        self.first = first
        self.cap = cap
        self._delay = first

    @property
    def delay(self) -> float:
        """How long the next `sleep` waits."""
        return self._delay

    def reset(self) -> None:
        """After a success: the next failure waits `first` again."""
        self._delay = self.first

    def failed(self) -> float:
        """Record a failure without sleeping; returns the delay to wait now."""
        delay = self._delay
        self._delay = min(delay * 2, self.cap)
        return delay

    async def sleep(self) -> None:
        """Wait the current delay, then double it (up to the cap)."""
        await asyncio.sleep(self.failed())


class BackgroundTask:
    """One named asyncio task running `body`: started once, cancelled and awaited by `stop`."""

    __slots__ = ("_body", "_task", "name")

    def __init__(self, name: str, body: Callable[[], Awaitable[None]]) -> None:
        self.name = name
        self._body = body
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the body; a second start while it runs is a programming error."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self._task = asyncio.create_task(_run(self._body), name=self.name)

    async def stop(self) -> None:
        """Cancel the body and wait for it to end; a no-op when it is not running."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _run(body: Callable[[], Awaitable[None]]) -> None:
    await body()


def every(
    interval_seconds: float,
    step: Callable[[], Awaitable[Any]],
    log: structlog.typing.FilteringBoundLogger,
    failure_event: str,
) -> Callable[[], Awaitable[None]]:
    """A loop body that runs `step`, then waits `interval_seconds`, for ever. A failed step is
    logged by its type (a database away, say) and the next round tries again."""

    async def loop() -> None:
        while True:
            try:
                await step()
            except Exception as exc:
                log.warning(failure_event, error=type(exc).__name__)
            await asyncio.sleep(interval_seconds)

    return loop
