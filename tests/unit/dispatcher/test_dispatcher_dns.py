"""Endpoint host lookups (behalf.dispatcher.dns): a tenant whose DNS answers slowly holds one
thread per host, never the lookups of other tenants' hosts."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

import pytest

from behalf.dispatcher.dns import SharedLookups


class SlowDns:
    """A blocking lookup: `slow.example` waits until released, every other host answers now."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, host: str, port: int) -> list[str]:
        with self._lock:
            self.calls[host] += 1
        if host == "slow.example":
            self.release.wait(10)
        if host == "nowhere.example":
            raise OSError("no address")
        return ["203.0.113.7"]


async def test_one_slow_host_takes_one_thread_and_others_still_resolve() -> None:
    dns = SlowDns()
    lookups = SharedLookups(dns, threads=2)
    try:
        stalled = [asyncio.create_task(lookups("slow.example", 443)) for _ in range(24)]
        await asyncio.sleep(0.05)
        # Another tenant's host answers at once, although 24 attempts wait on the slow one.
        fast = await asyncio.wait_for(lookups("fast.example", 443), 2)
        assert list(fast) == ["203.0.113.7"]
        assert not any(task.done() for task in stalled)
        dns.release.set()
        answers = await asyncio.gather(*stalled)
        assert all(list(answer) == ["203.0.113.7"] for answer in answers)
        assert dns.calls["slow.example"] == 1, "concurrent attempts share one lookup"
    finally:
        dns.release.set()
        lookups.close()


async def test_an_error_reaches_every_waiter_and_the_next_attempt_asks_again() -> None:
    dns = SlowDns()
    lookups = SharedLookups(dns, threads=2)
    try:
        results = await asyncio.gather(
            *(lookups("nowhere.example", 443) for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(result, OSError) for result in results)
        with pytest.raises(OSError):
            await lookups("nowhere.example", 443)
        assert dns.calls["nowhere.example"] == 2
    finally:
        lookups.close()


async def test_a_caller_that_gives_up_leaves_the_lookup_to_the_others() -> None:
    dns = SlowDns()
    lookups = SharedLookups(dns, threads=2)
    try:
        impatient = asyncio.create_task(lookups("slow.example", 443))
        patient = asyncio.create_task(lookups("slow.example", 443))
        await asyncio.sleep(0.05)
        impatient.cancel()
        dns.release.set()
        assert list(await patient) == ["203.0.113.7"]
        assert impatient.cancelled()
    finally:
        lookups.close()
