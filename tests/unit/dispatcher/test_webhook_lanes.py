"""Per-endpoint lanes: bounded queues, bounded workers, no endpoint waits on another."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from behalf.dispatcher.breaker import Breaker
from behalf.dispatcher.lanes import EndpointLanes, LaneSettings, Refusal
from behalf.dispatcher.store import DeliveryRow
from behalf.dispatcher.targets import Target


def _row(n: int, endpoint: str) -> DeliveryRow:
    now = datetime.now(UTC)
    return DeliveryRow(
        f"dlv_{n}",
        "ten",
        endpoint,
        f"evt_{n}",
        "t",
        f"msg_{n}",
        "pending",
        0,
        0,
        b"{}",
        None,
        0,
        "",
        now,
        now,
    )


def _target(endpoint: str) -> Target:
    return Target(endpoint, "ten", "https://x.example", (), False, ("whsec_x",))


async def test_a_hanging_lane_refuses_quickly_and_others_keep_flowing():
    """A lane whose requests never finish refuses new work after the stall time; the other
    endpoint's deliveries all run meanwhile."""
    done: list[str] = []
    hang = asyncio.Event()

    async def work(row: DeliveryRow, _t: Target, _b: Breaker) -> None:
        if row.endpoint_id == "slow":
            await hang.wait()
        done.append(row.delivery_id)

    lanes = EndpointLanes(LaneSettings(concurrency=2, queue_limit=3, stall_seconds=0.05), work)
    results = [await lanes.put(_row(i, "slow"), _target("slow")) for i in range(5)]
    assert results == [Refusal.NONE] * 5  # two in flight, three queued
    started = asyncio.get_running_loop().time()
    assert await lanes.put(_row(5, "slow"), _target("slow")) is Refusal.STALLED
    now = asyncio.get_running_loop().time()
    assert lanes.failing(now) == ["slow"] and lanes.probing(now) == []  # its next batch parks
    assert asyncio.get_running_loop().time() - started < 0.5
    for i in range(100):
        assert await lanes.put(_row(100 + i, "fast"), _target("fast")) is Refusal.NONE
    await asyncio.sleep(0.05)
    assert len(done) == 100 and lanes.holds("dlv_0") and not lanes.holds("dlv_100")
    hang.set()
    await lanes.stop(1.0)


async def test_a_full_lane_that_drains_applies_back_pressure_instead_of_refusing():
    """A burst larger than the queue is accepted in full when the endpoint keeps answering."""
    done: list[str] = []

    async def work(row: DeliveryRow, _t: Target, _b: Breaker) -> None:
        await asyncio.sleep(0.001)
        done.append(row.delivery_id)

    lanes = EndpointLanes(LaneSettings(concurrency=4, queue_limit=8, stall_seconds=1.0), work)
    accepted = [await lanes.put(_row(i, "ep"), _target("ep")) for i in range(200)]
    assert set(accepted) == {Refusal.NONE}
    await lanes.stop(5.0)
    assert len(done) >= 190  # the tail still queued at stop stays pending for reclaim


async def test_an_open_breaker_refuses_without_queueing():
    """Once an endpoint's breaker is open, `put` refuses at once."""

    async def work(_row: DeliveryRow, _t: Target, breaker: Breaker) -> None:
        breaker.record(False, asyncio.get_running_loop().time())

    lanes = EndpointLanes(LaneSettings(breaker_threshold=1, breaker_cooldown_seconds=60), work)
    assert await lanes.put(_row(1, "ep"), _target("ep")) is Refusal.NONE
    await asyncio.sleep(0.01)
    assert await lanes.put(_row(2, "ep"), _target("ep")) is Refusal.OPEN


async def test_a_full_lane_whose_requests_time_out_refuses_without_waiting():
    """Requests that end in failure (a hanging endpoint's timeouts) do not count as draining:
    a full lane refuses at once rather than holding the caller for the stall time."""
    release = asyncio.Event()

    async def work(row: DeliveryRow, _t: Target, breaker: Breaker) -> None:
        await release.wait()
        breaker.record(False, asyncio.get_running_loop().time())  # the timeout
        release.clear()
        await asyncio.sleep(3600) if row.delivery_id != "dlv_0" else None

    settings = LaneSettings(concurrency=1, queue_limit=1, stall_seconds=5.0, breaker_threshold=9)
    lanes = EndpointLanes(settings, work)
    assert await lanes.put(_row(0, "ep"), _target("ep")) is Refusal.NONE  # in flight
    assert await lanes.put(_row(1, "ep"), _target("ep")) is Refusal.NONE  # queued
    release.set()  # dlv_0 times out; dlv_1 goes out and hangs; the queue has room again
    await asyncio.sleep(0.01)
    assert await lanes.put(_row(2, "ep"), _target("ep")) is Refusal.NONE
    started = asyncio.get_running_loop().time()
    assert await lanes.put(_row(3, "ep"), _target("ep")) is Refusal.STALLED
    assert asyncio.get_running_loop().time() - started < 0.5  # not the 5 s stall time
    await lanes.stop(0.01)


async def test_an_endpoints_own_rate_limit_paces_only_that_endpoint():
    """An endpoint whose target says 20/s (the registry's rate_limit_per_second) gets at most
    its burst at once and the rest at that pace; its neighbour, on the unlimited default, is
    not held back by it."""
    times: dict[str, list[float]] = {"paced": [], "free": []}
    loop = asyncio.get_running_loop()

    all_done = asyncio.Event()

    async def work(row: DeliveryRow, _t: Target, _b: Breaker) -> None:
        times[row.endpoint_id].append(loop.time())
        if len(times["paced"]) == 6 and len(times["free"]) == 6:
            all_done.set()

    lanes = EndpointLanes(LaneSettings(concurrency=4, queue_limit=64, burst=2), work)
    paced = Target("paced", "ten", "https://x.example", (), False, ("whsec_x",), 20.0)
    started = loop.time()
    for i in range(6):
        assert await lanes.put(_row(i, "paced"), paced) is Refusal.NONE
        assert await lanes.put(_row(100 + i, "free"), _target("free")) is Refusal.NONE
    async with asyncio.timeout(10):
        await all_done.wait()
    # Two at once (the burst), then four at 20/s: at least 0.15 s for the last one; the
    # neighbour's were done long before.
    assert times["paced"][-1] - started >= 0.15
    assert times["free"][-1] < times["paced"][-1]


async def test_lanes_that_refuse_or_whose_breaker_is_not_closed_are_failing_and_some_probing():
    """What a batch parks and what reclaim leaves parked: a lane full but draining is not
    failing (it applies back-pressure); an open or half-open breaker is. Once its cooldown is
    over it is probing too (reclaim unparks one delivery to carry the probe), until the probe
    goes."""
    release = asyncio.Event()

    async def work(_row: DeliveryRow, _t: Target, _b: Breaker) -> None:
        await release.wait()

    lanes = EndpointLanes(LaneSettings(concurrency=1, queue_limit=1, stall_seconds=60), work)
    for i in range(2):
        assert await lanes.put(_row(i, "busy"), _target("busy")) is Refusal.NONE
    await lanes.put(_row(10, "down"), _target("down"))
    await asyncio.sleep(0)  # its worker takes it: the lane is not full
    breaker = lanes.breaker("down")
    assert breaker is not None
    for _ in range(LaneSettings().breaker_threshold):
        breaker.record(False, 0.0)
    cooled = LaneSettings().breaker_cooldown_seconds + 1
    assert lanes.failing(0.0) == ["down"] and lanes.probing(0.0) == []  # not "busy"
    assert lanes.failing(cooled) == ["down"] and lanes.probing(cooled) == ["down"]
    assert breaker.allow(cooled)  # the probe goes
    assert lanes.failing(cooled) == ["down"] and lanes.probing(cooled) == []
    breaker.record(True, cooled)
    assert lanes.failing(cooled) == [] and lanes.probing(cooled) == []
    release.set()
    await lanes.stop(1.0)


async def test_a_full_lane_held_back_by_its_own_rate_limit_is_busy_at_once():
    """A tenant sets its endpoint to 1 delivery a second and bursts: what does not fit is
    refused as busy (the retry tier) without holding intake, where every other tenant's
    deliveries wait behind it; another endpoint's deliveries still queue at once."""
    hold = asyncio.Event()

    async def work(_row: DeliveryRow, _t: Target, _b: Breaker) -> None:
        await hold.wait()

    settings = LaneSettings(concurrency=1, queue_limit=2, burst=1, stall_seconds=5.0)
    lanes = EndpointLanes(settings, work)
    slow = Target("slow", "ten", "https://x.example", (), False, ("whsec_x",), 1.0)
    loop = asyncio.get_running_loop()
    results = [await lanes.put(_row(i, "slow"), slow) for i in range(3)]
    assert results == [Refusal.NONE] * 3  # one taken out by its worker, two queued
    started = loop.time()
    assert await lanes.put(_row(3, "slow"), slow) is Refusal.BUSY
    assert loop.time() - started < 0.5  # not the 5 s stall time
    assert lanes.failing(loop.time()) == []  # busy: each delivery goes to the retry tier
    assert await lanes.put(_row(100, "other"), _target("other")) is Refusal.NONE
    hold.set()
    await lanes.stop(1.0)


async def test_a_delivery_offered_twice_is_attempted_once():
    """Reclaim and a late retry task can both offer one delivery, even while the first copy
    waits for room in a full lane: it is queued once, so it is POSTed once."""
    attempts: list[str] = []
    release = asyncio.Event()

    async def work(row: DeliveryRow, _t: Target, _b: Breaker) -> None:
        await release.wait()
        attempts.append(row.delivery_id)

    lanes = EndpointLanes(LaneSettings(concurrency=1, queue_limit=1, stall_seconds=5.0), work)
    assert await lanes.put(_row(0, "ep"), _target("ep")) is Refusal.NONE  # in flight
    assert await lanes.put(_row(1, "ep"), _target("ep")) is Refusal.NONE  # queued: lane full
    waiting = asyncio.create_task(lanes.put(_row(2, "ep"), _target("ep")))  # waits for room
    await asyncio.sleep(0.01)
    assert await lanes.put(_row(1, "ep"), _target("ep")) is Refusal.NONE
    assert await lanes.put(_row(0, "ep"), _target("ep")) is Refusal.NONE
    release.set()
    assert await waiting is Refusal.NONE
    await lanes.stop(2.0)
    assert sorted(attempts) == ["dlv_0", "dlv_1", "dlv_2"]


async def test_offer_never_waits_and_put_waits_only_until_the_callers_deadline():
    """`offer` queues what has room and answers None for a full lane that drains (the caller
    decides whether to wait); `put` waits for room no later than the deadline it is given, so
    a caller queueing many deliveries can spend one budget on all of them."""
    release = asyncio.Event()

    async def work(row: DeliveryRow, _t: Target, _b: Breaker) -> None:
        await release.wait()

    lanes = EndpointLanes(LaneSettings(concurrency=1, queue_limit=1, stall_seconds=5.0), work)
    assert lanes.offer(_row(0, "ep"), _target("ep")) is Refusal.NONE
    await asyncio.sleep(0.01)  # the worker takes it: in flight
    assert lanes.offer(_row(1, "ep"), _target("ep")) is Refusal.NONE  # queued: full now
    assert lanes.offer(_row(2, "ep"), _target("ep")) is None  # full, draining: not queued
    assert not lanes.holds("dlv_2")
    started = time.monotonic()
    assert await lanes.put(_row(2, "ep"), _target("ep"), started + 0.1) is Refusal.BUSY
    assert time.monotonic() - started < 1.0  # not the 5 s stall period
    release.set()
    assert await lanes.put(_row(3, "ep"), _target("ep")) is Refusal.NONE  # room again
    await lanes.stop(1.0)
