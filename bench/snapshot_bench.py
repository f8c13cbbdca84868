"""Verifier snapshot scale, end to end and in-process: load time, memory, deltas, decide latency.

    python bench/snapshot_bench.py [--sizes 10000,100000,1000000] [--tenants-at-max 1000]
                                   [--decisions 20000] [--no-rebuild] [--no-writes]

End to end (real PostgreSQL and Kafka, the registry as a process): for each size, the policy
(ten permissions per agent, exact and `*.suffix` resources, amounts on transactions, expiries)
is COPYed into the registry's tables, then one verifier process (one worker) is started and
timed from exec to its first non-stale Verify answer; its RSS and the registry's are read from
/proc. At the largest size the same again with the agents spread over `--tenants-at-max`
tenants, then a rebuild: the registry is restarted while Verify load runs, and the verifier's
Verify latency is recorded while it loads the new snapshot beside the old one.

In-process, per size: the snapshot built from serialized chunks with the verifier's
`SnapshotBuilder`, `apply_delta` (one agent disabled) and `engine.decide` on random agents.
The write side is bench/snapshot_writes.py. Writes docs/bench/snapshot.json, a plot and the
`snapshot` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import snapshot_e2e as e2e
import snapshot_writes
from _common import machine, percentile, running_stack, stamp, table, write_section
from google.protobuf import timestamp_pb2
from snapshot_report import markdown, plot, report

from behalf.v1 import common_pb2, internal_pb2, resources_pb2
from behalf.verifier.engine import Freshness, VerifyInput, decide
from behalf.verifier.snapshot import Money, PolicySnapshot, apply_delta
from behalf.verifier.snapshot_build import SnapshotBuilder

OUT = Path(__file__).resolve().parent.parent / "docs" / "bench"
PER_AGENT = e2e.PER_AGENT
CHUNK = 5000


class NoSteps:
    """Stateful steps never reached: the generated grants have no budgets or approvals."""

    async def reserve_budget(self, request, permission_id, amount):
        raise AssertionError("no budgets in this benchmark")

    async def create_approval(self, request, permission_id):
        raise AssertionError("no approvals in this benchmark")

    async def consume_approval(self, request, approval_id):
        raise AssertionError("no approvals in this benchmark")


def chunks(permissions: int, tenants: int = 10) -> list[bytes]:
    """The policy as serialized WatchPolicy chunks, as the registry would send it."""
    agents_n = permissions // PER_AGENT
    expires = timestamp_pb2.Timestamp()
    expires.FromDatetime(datetime.now(UTC) + timedelta(days=30))
    out = []
    chunk = internal_pb2.PolicySnapshotChunk(revision=1)
    for a in range(agents_n):
        chunk.agents.add(tenant_id=f"ten_{a % tenants:020d}", agent_id=e2e.agent_id(a))
        if len(chunk.agents) == CHUNK:
            out.append(chunk.SerializeToString())
            chunk = internal_pb2.PolicySnapshotChunk(revision=1)
    for a in range(agents_n):
        for line in range(PER_AGENT):
            category, action = e2e.CATEGORY_ACTIONS[(a + line) % PER_AGENT]
            name = e2e.resource(a, line)
            money = category == "transactions"
            chunk.permissions.add(
                permission_id=e2e.permission_id(a * PER_AGENT + line),
                tenant_id=f"ten_{a % tenants:020d}",
                agent_id=e2e.agent_id(a),
                allowed_actions=[action],
                blocked_actions=["issue_refund"] if line == 9 else [],
                resources=["*." + name.split(".", 1)[1] if line % 3 == 0 else name],
                max_amount=common_pb2.Money(amount_minor=50_000, currency="USD") if money else None,
                expires_at=expires,
                category=1 + (a + line) % PER_AGENT // 2,
            )
            if len(chunk.permissions) == CHUNK:
                out.append(chunk.SerializeToString())
                chunk = internal_pb2.PolicySnapshotChunk(revision=1)
    chunk.last = True
    out.append(chunk.SerializeToString())
    return out


def build(data: list[bytes]) -> tuple[PolicySnapshot, float, float]:
    """Build from serialized chunks as policy_watch does (each step frozen out of the cyclic GC
    as it ends); (snapshot, seconds, longest step ms)."""
    builder = SnapshotBuilder(1)
    longest = 0.0
    start = time.perf_counter()
    for raw in data:
        chunk = internal_pb2.PolicySnapshotChunk.FromString(raw)
        mark = time.perf_counter()
        for _ in builder.add(chunk):
            gc.freeze()
            longest, mark = max(longest, time.perf_counter() - mark), time.perf_counter()
        gc.freeze()
    mark = time.perf_counter()
    for _ in builder.finish():
        gc.freeze()
        longest, mark = max(longest, time.perf_counter() - mark), time.perf_counter()
    return builder.result(), time.perf_counter() - start, longest * 1000


def requests(agents_n: int, count: int, tenants: int = 10) -> list[VerifyInput]:
    rng = random.Random(7)
    out = []
    for _ in range(count):
        a, line = rng.randrange(agents_n), rng.randrange(PER_AGENT)
        category, action = e2e.CATEGORY_ACTIONS[(a + line) % PER_AGENT]
        out.append(
            VerifyInput(
                tenant_id=f"ten_{a % tenants:020d}",
                agent_id=e2e.agent_id(a),
                action=action,
                resource=e2e.resource(a, line),
                amount=Money(2_500, "USD") if category == "transactions" else None,
            )
        )
    return out


async def time_decide(snapshot: PolicySnapshot, inputs: list[VerifyInput]) -> tuple[list, float]:
    now = datetime.now(UTC)
    freshness = Freshness(silent_for=timedelta(0), staleness_bound=timedelta(hours=1))
    steps, samples, allowed = NoSteps(), [], 0
    clock = time.perf_counter_ns
    for request in inputs:
        start = clock()
        result = await decide(request, snapshot, now, freshness, steps)
        samples.append((clock() - start) / 1000)
        allowed += result.reason_code.name == "ALLOWED"
    return samples, allowed / max(1, len(inputs))


def time_deltas(snapshot: PolicySnapshot, agents_n: int, count: int = 500) -> list[float]:
    rng = random.Random(11)
    samples, revision = [], snapshot.revision
    for _ in range(count):
        a = rng.randrange(agents_n)
        revision += 1
        tenant = f"ten_{a % 10:020d}"
        delta = internal_pb2.PolicyDelta(
            revision=revision,
            tenant_id=tenant,
            changes=[
                internal_pb2.PolicyChange(
                    agent_upserted=resources_pb2.Agent(
                        tenant_id=tenant, agent_id=e2e.agent_id(a), disabled=True
                    )
                )
            ],
        )
        start = time.perf_counter_ns()
        snapshot = apply_delta(snapshot, delta)
        samples.append((time.perf_counter_ns() - start) / 1000)
    return samples


async def in_process(size: int, decisions: int) -> dict:
    data = chunks(size)
    gc.collect()
    snapshot, build_s, longest_ms = build(data)
    del data
    assert snapshot.permission_count == size, snapshot.permission_count
    inputs = requests(size // PER_AGENT, decisions)
    await time_decide(snapshot, inputs)
    samples, allowed = await time_decide(snapshot, inputs)
    deltas = time_deltas(snapshot, size // PER_AGENT)
    del snapshot
    gc.unfreeze()
    gc.collect()
    return {
        "build_s": build_s,
        "longest_step_ms": longest_ms,
        "decide_p50_us": percentile(samples, 50),
        "decide_p99_us": percentile(samples, 99),
        "delta_p50_ms": percentile(deltas, 50) / 1000,
        "delta_p99_ms": percentile(deltas, 99) / 1000,
        "allowed": allowed,
    }


async def end_to_end(stack, first, size: int, tenants: int) -> dict:
    await e2e.reset_policy(stack)
    load_start = time.perf_counter()
    await e2e.load_policy(stack, first, size, tenants)
    copy_s = time.perf_counter() - load_start
    registry_pid = stack.registry.process.pid
    registry_before = e2e.status_kib(registry_pid, "VmRSS")
    sampler = e2e.RssSampler(registry_pid)
    sampler.start()
    registry_cpu = e2e.cpu_seconds(registry_pid)
    load = await e2e.start_and_time(stack, first)
    registry_peak = await sampler.stop()
    verifier_pid = load.verifier.process.pid
    verifier_cpu = e2e.cpu_seconds(verifier_pid)
    registry_cpu = e2e.cpu_seconds(registry_pid) - registry_cpu
    result = {
        "permissions": size,
        "agents": size // PER_AGENT,
        "tenants": tenants,
        "copy_s": copy_s,
        "serving_s": load.serving_s,
        "up_s": load.up_s,
        "first_decision": load.reason,
        "verifier_rss_mib": e2e.largest(verifier_pid, "VmRSS") / 1024,
        "verifier_hwm_mib": e2e.largest(verifier_pid, "VmHWM") / 1024,
        "registry_rss_before_mib": registry_before / 1024,
        "registry_rss_peak_mib": registry_peak / 1024,
        "verifier_cpu_s": verifier_cpu,
        "registry_cpu_s": registry_cpu,
    }
    print(result, flush=True)
    return result | {"_load": load}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--tenants-at-max", type=int, default=1000)
    parser.add_argument("--decisions", type=int, default=20000)
    parser.add_argument("--no-rebuild", action="store_true")
    parser.add_argument("--no-writes", action="store_true")
    options = parser.parse_args()
    sizes = [int(s) for s in options.sizes.split(",")]
    started, when = machine(), stamp()

    inproc = {}
    for size in sizes:
        inproc[size] = await in_process(size, options.decisions)
        print(size, inproc[size], flush=True)

    e2e_rows, rebuild = [], None
    async with running_stack(verifiers=0) as stack:
        first = stack.create_tenant("bench")
        for size in sizes:
            row = await end_to_end(stack, first, size, 1)
            row.pop("_load").verifier.process.kill()
            e2e_rows.append(row)
        if options.tenants_at_max > 1:
            row = await end_to_end(stack, first, sizes[-1], options.tenants_at_max)
            load = row.pop("_load")
            e2e_rows.append(row)
            if not options.no_rebuild:
                rebuild = await e2e.rebuild_under_load(
                    stack, first, load.verifier, sizes[-1] // PER_AGENT, options.tenants_at_max
                )
                print("rebuild", rebuild, flush=True)
            load.verifier.process.kill()
    writes = None if options.no_writes else await snapshot_writes.measure()

    result = report(started, when, sizes, inproc, e2e_rows, rebuild, writes)
    (OUT / "snapshot.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, OUT / "snapshot_scale.svg")
    write_section("snapshot", markdown(result, table))


if __name__ == "__main__":
    asyncio.run(main())
