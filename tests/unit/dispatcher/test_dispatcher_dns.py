"""Endpoint host lookups (behalf.dispatcher.dns): a tenant whose DNS answers slowly holds one
thread per host and at most a quarter of the threads, never the lookups of other tenants'
hosts."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

import pytest

from behalf.dispatcher.dns import DNS_THREADS, SharedLookups

# A tenant may register this many endpoints (registry commands/webhooks.py), each on a host name
# of its choosing, served by name servers of its choosing.
MAX_ENDPOINTS_PER_TENANT = 50
ATTACKER, VICTIM = "ten_" + "a" * 20, "ten_" + "v" * 20


class SlowDns:
    """A blocking lookup: `slow.example` waits until released, every other host answers now."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, host: str, port: int) -> list[str]:
        with self._lock:
            self.calls[host] += 1
        if host == "slow.example" or host.endswith(".slow.example"):
            self.release.wait(10)
        if host == "nowhere.example":
            raise OSError("no address")
        return ["203.0.113.7"]


async def test_one_slow_host_takes_one_thread_and_others_still_resolve() -> None:
    dns = SlowDns()
    lookups = SharedLookups(dns, threads=2)
    try:
        stalled = [asyncio.create_task(lookups("slow.example", 443, ATTACKER)) for _ in range(24)]
        await asyncio.sleep(0.05)
        # Another tenant's host answers at once, although 24 attempts wait on the slow one.
        fast = await asyncio.wait_for(lookups("fast.example", 443, VICTIM), 2)
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
            *(lookups("nowhere.example", 443, VICTIM) for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(result, OSError) for result in results)
        with pytest.raises(OSError):
            await lookups("nowhere.example", 443, VICTIM)
        assert dns.calls["nowhere.example"] == 2
    finally:
        lookups.close()


async def test_a_caller_that_gives_up_leaves_the_lookup_to_the_others() -> None:
    dns = SlowDns()
    lookups = SharedLookups(dns, threads=2)
    try:
        impatient = asyncio.create_task(lookups("slow.example", 443, ATTACKER))
        patient = asyncio.create_task(lookups("slow.example", 443, ATTACKER))
        await asyncio.sleep(0.05)
        impatient.cancel()
        dns.release.set()
        assert list(await patient) == ["203.0.113.7"]
        assert impatient.cancelled()
    finally:
        lookups.close()


async def test_one_tenants_many_slow_names_cannot_take_every_thread() -> None:
    """The attack: a tenant registers its 50 endpoints on 50 host names its own name server
    answers slowly (or never), then makes events. Each name is a lookup of its own, one thread
    each; another tenant's host must still resolve at once, with the production pool."""
    assert MAX_ENDPOINTS_PER_TENANT > DNS_THREADS  # without a share, the attacker fills the pool
    dns = SlowDns()
    lookups = SharedLookups(dns)
    try:
        stalled = [
            asyncio.create_task(lookups(f"h{i}.slow.example", 443, ATTACKER))
            for i in range(MAX_ENDPOINTS_PER_TENANT)
        ]
        await asyncio.sleep(0.1)
        answer = await asyncio.wait_for(lookups("hooks.victim.example", 443, VICTIM), 2)
        assert list(answer) == ["203.0.113.7"]
        assert sum(dns.calls[f"h{i}.slow.example"] for i in range(50)) == DNS_THREADS // 4, (
            "the attacker's lookups beyond its share wait without a thread"
        )
        dns.release.set()  # its own lookups all finish, in turn
        answers = await asyncio.wait_for(asyncio.gather(*stalled), 5)
        assert all(list(a) == ["203.0.113.7"] for a in answers)
    finally:
        dns.release.set()
        lookups.close()
