"""Errors and retries for the moment a service connects to its dependencies."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from behalf.common.background import Backoff

T = TypeVar("T")
_log = structlog.get_logger("startup")


class StartupError(RuntimeError):
    """A dependency stayed unreachable for the whole startup timeout; the message says which."""


async def retry_until(
    what: str, attempt: Callable[[], Awaitable[T]], *, timeout_seconds: float
) -> T:
    """Call `attempt` with backoff until it succeeds or `timeout_seconds` pass."""
    deadline = time.monotonic() + timeout_seconds
    backoff = Backoff(first=0.2, cap=2.0)
    while True:
        try:
            return await attempt()
        except Exception as exc:
            if time.monotonic() + backoff.delay > deadline:
                reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
                raise StartupError(
                    f"{what} unreachable after {timeout_seconds:g}s ({reason})"
                ) from exc
            _log.info("dependency_waiting", dependency=what, error=type(exc).__name__)
            await backoff.sleep()
