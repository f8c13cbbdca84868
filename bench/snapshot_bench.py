"""Verifier snapshot scale: build time, memory, delta cost and decide latency vs. size.

    python bench/snapshot_bench.py [--sizes 10000,100000,1000000] [--decisions 20000]

In-process, no services: generates registry `Permission` and `Agent` messages (ten
permissions per agent over ten tenants; exact and `*.suffix` resources, amounts on
transactions, expiries), builds the snapshot with `behalf.verifier.snapshot.build_snapshot`
(timed without tracing; memory measured in a second, traced build with tracemalloc and as the
process RSS growth), applies single-agent deltas with `apply_delta`, and times
`engine.decide` on random agents across the whole snapshot. Writes the `snapshot` section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

from _common import machine, percentile, stamp, table, write_section
from google.protobuf import timestamp_pb2

from behalf.v1 import common_pb2, internal_pb2, resources_pb2
from behalf.verifier.engine import Freshness, VerifyInput, decide
from behalf.verifier.snapshot import Money, PolicySnapshot, apply_delta, build_snapshot

PER_AGENT = 10
TENANTS = 10
ACTIONS = [
    ("read_email", 1),
    ("browse_web", 1),
    ("send_email", 2),
    ("post_slack", 2),
    ("create_event", 3),
    ("book_meeting", 3),
    ("purchase", 4),
    ("issue_refund", 4),
    ("write_document", 5),
    ("update_crm_contact", 6),
]


class NoSteps:
    """Stateful steps never reached: the generated grants have no budgets or approvals."""

    async def reserve_budget(self, request, permission_id, amount):
        raise AssertionError("no budgets in this benchmark")

    async def create_approval(self, request, permission_id):
        raise AssertionError("no approvals in this benchmark")

    async def consume_approval(self, request, approval_id):
        raise AssertionError("no approvals in this benchmark")


def tenant_of(agent: int) -> str:
    return f"ten_{agent % TENANTS:020d}"


def agent_id(agent: int) -> str:
    return f"agt_{agent:020d}"


def action_of(agent: int, line: int) -> tuple[str, int]:
    return ACTIONS[(agent + line) % len(ACTIONS)]


def resource_of(agent: int, line: int) -> str:
    return f"shop{line}.vendor{agent % 5000}.example.com"


def generate(permissions: int) -> tuple[list, list]:
    agents_n = permissions // PER_AGENT
    expires = timestamp_pb2.Timestamp()
    expires.FromDatetime(datetime.now(UTC) + timedelta(days=30))
    agents = [
        resources_pb2.Agent(tenant_id=tenant_of(a), agent_id=agent_id(a), revision=1)
        for a in range(agents_n)
    ]
    perms = []
    for a in range(agents_n):
        for line in range(PER_AGENT):
            action, category = action_of(a, line)
            wildcard = line % 3 == 0
            resource = resource_of(a, line)
            perms.append(
                resources_pb2.Permission(
                    permission_id=f"prm_{a:014d}{line:06d}",
                    tenant_id=tenant_of(a),
                    agent_id=agent_id(a),
                    allowed_actions=[action],
                    blocked_actions=["issue_refund"] if line == 9 else [],
                    resources=["*." + resource.split(".", 1)[1] if wildcard else resource],
                    max_amount=common_pb2.Money(amount_minor=50_000, currency="USD")
                    if category == 4
                    else None,
                    expires_at=expires,
                    category=category,
                    revision=1,
                )
            )
    return agents, perms


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def requests(agents_n: int, count: int) -> list[VerifyInput]:
    rng = random.Random(7)
    out = []
    for _ in range(count):
        a, line = rng.randrange(agents_n), rng.randrange(PER_AGENT)
        action, category = action_of(a, line)
        out.append(
            VerifyInput(
                tenant_id=tenant_of(a),
                agent_id=agent_id(a),
                action=action,
                resource=resource_of(a, line),
                amount=_money(2_500) if category == 4 else None,
            )
        )
    return out


def _money(minor: int) -> Money:
    return Money(minor, "USD")


async def time_decide(snapshot: PolicySnapshot, inputs: list[VerifyInput]) -> tuple[list, dict]:
    now = datetime.now(UTC)
    freshness = Freshness(last_heard=now, staleness_bound=timedelta(hours=1))
    steps = NoSteps()
    samples, outcomes = [], {}
    clock = time.perf_counter_ns
    for request in inputs:
        start = clock()
        result = await decide(request, snapshot, now, freshness, steps)
        samples.append((clock() - start) / 1000)
        outcomes[result.reason_code.name] = outcomes.get(result.reason_code.name, 0) + 1
    return samples, outcomes


def time_deltas(snapshot: PolicySnapshot, agents_n: int, count: int = 200) -> list[float]:
    rng = random.Random(11)
    samples = []
    revision = snapshot.revision
    for _ in range(count):
        a = rng.randrange(agents_n)
        revision += 1
        delta = internal_pb2.PolicyDelta(
            revision=revision,
            tenant_id=tenant_of(a),
            changes=[
                internal_pb2.PolicyChange(
                    agent_upserted=resources_pb2.Agent(
                        tenant_id=tenant_of(a), agent_id=agent_id(a), disabled=True
                    )
                )
            ],
        )
        start = time.perf_counter_ns()
        snapshot = apply_delta(snapshot, delta)
        samples.append((time.perf_counter_ns() - start) / 1000)
    return samples


async def measure(size: int, decisions: int, traced_max: int) -> list[str]:
    agents, perms = generate(size)
    gc.collect()
    rss_before = rss_bytes()
    start = time.perf_counter()
    snapshot = build_snapshot(1, agents, perms)
    build_s = time.perf_counter() - start
    gc.collect()
    rss_growth = rss_bytes() - rss_before
    assert snapshot.permission_count == size, snapshot.permission_count

    samples, outcomes = await time_decide(snapshot, requests(len(agents), decisions))
    samples, outcomes = await time_decide(snapshot, requests(len(agents), decisions))
    deltas = time_deltas(snapshot, len(agents))

    start = time.perf_counter()
    gc.collect()
    full_gc_s = time.perf_counter() - start
    del snapshot
    gc.collect()
    held = None
    if size <= traced_max:
        tracemalloc.start()
        traced = build_snapshot(1, agents, perms)
        gc.collect()
        held, _peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del traced
    del agents, perms
    gc.collect()
    allowed = outcomes.get("ALLOWED", 0) / max(1, sum(outcomes.values()))
    return [
        f"{size:,}",
        f"{size // PER_AGENT:,}",
        f"{build_s:.2f}",
        f"{build_s / size * 1e6:.1f}",
        f"{held / 2**20:,.0f}" if held is not None else "—",
        f"{(held if held is not None else rss_growth) / size:,.0f}",
        f"{rss_growth / 2**20:,.0f}",
        f"{full_gc_s * 1000:,.0f}",
        f"{percentile(deltas, 50):.1f}",
        f"{percentile(samples, 50):.1f}",
        f"{percentile(samples, 99):.1f}",
        f"{percentile(samples, 99.9):.1f}",
        f"{allowed:.0%}",
    ]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--decisions", type=int, default=20000)
    parser.add_argument("--traced-max", type=int, default=100_000)
    options = parser.parse_args()
    started = machine()
    rows = []
    for size in (int(s) for s in options.sizes.split(",")):
        rows.append(await measure(size, options.decisions, options.traced_max))
        print(rows[-1], flush=True)
    headers = [
        "permissions",
        "agents",
        "build s",
        "build µs/perm",
        "memory MiB (tracemalloc)",
        "bytes/perm",
        "RSS growth MiB",
        "full gc.collect() ms",
        "apply_delta p50 µs",
        "decide p50 µs",
        "decide p99 µs",
        "decide p99.9 µs",
        "allowed",
    ]
    first, last = float(rows[0][9]), float(rows[-1][9])
    write_section(
        "snapshot",
        f"""
## Snapshot scale

Run {stamp()}. Machine: {started}.

In-process, from generated registry messages: {PER_AGENT} permissions per agent over
{TENANTS} tenants, one action each from the six categories, a third of them `*.suffix`
wildcards, amount limits on transactions, expiries. "build" is `build_snapshot` over the
messages (what a verifier does with a WatchPolicy snapshot once its chunks have arrived;
untraced). Memory is what the finished snapshot holds, measured by tracemalloc in a second
build (sizes up to {options.traced_max:,}; tracing a million-permission build takes minutes),
and as the process's RSS growth over the first build (bytes/perm falls back to it). "full
gc.collect()" is one full collection with the snapshot alive: the pause a verifier would take
if the collector walked the whole snapshot during a request. `apply_delta` disables one agent
(copy-on-write: only that agent's entry and the map buckets on its path are copied).
`decide` is `behalf.verifier.engine.decide` on {options.decisions:,} requests for random agents
and actions spread over the whole snapshot (after one warm-up pass), timed one by one.

{table(headers, rows)}

**Decide p50 at {rows[-1][0]} permissions / at {rows[0][0]}: {last / first:.2f}** — lookup is
two hash probes (agent, then action), so the size of the snapshot does not enter the decision;
what grows with size is the one-off build and the memory.
""",
    )


if __name__ == "__main__":
    asyncio.run(main())
