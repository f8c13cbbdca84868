"""Verify throughput of one verifier process versus two sharing one port (SO_REUSEPORT).

    python bench/scaleout_bench.py [--duration 8] [--rounds 2] [--concurrency 64]

Starts real PostgreSQL and Kafka, the registry and one verifier; then a second verifier bound
to the same port (our servers set `grpc.so_reuseport`), so the kernel spreads ghz's
connections over both processes. Each configuration is measured alternately for --rounds
rounds by stopping and restarting the second process; the per-process decision counters show
how the kernel split the load. Writes the `scaleout` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from _common import (
    Run,
    ghz,
    machine,
    median_run,
    metric_total,
    run_table,
    running_stack,
    seed,
    settle,
    stamp,
    write_section,
)

DECISIONS = "behalf_verifier_decisions_total"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--connections", type=int, default=16)
    options = parser.parse_args()
    started = machine()
    one_runs: list[Run] = []
    two_runs: list[Run] = []
    shares: list[str] = []
    async with running_stack() as stack:
        seeded = seed(stack)
        settle()
        first = stack.verifiers[0]
        key, data = seeded.tenant.verify_key, seeded.verify_json()
        kw = {
            "duration": options.duration,
            "concurrency": options.concurrency,
            "connections": options.connections,
        }
        ghz(first.target, "warm-up", data, key, duration=3, concurrency=10)
        for _ in range(options.rounds):
            one_runs.append(ghz(first.target, "one", data, key, **kw))
            second = stack.start_verifier(BEHALF_GRPC_PORT=str(first.grpc_port))
            settle()
            before = [metric_total(p.metrics_port, DECISIONS) for p in (first, second)]
            two_runs.append(ghz(first.target, "two", data, key, **kw))
            after = [metric_total(p.metrics_port, DECISIONS) for p in (first, second)]
            counts = [a - b for a, b in zip(after, before, strict=True)]
            shares.append(f"{counts[0]:,.0f} / {counts[1]:,.0f}")
            second.terminate()
            stack.verifiers.remove(second)
            settle()

    one = median_run("one verifier process", one_runs)
    two = median_run("two verifier processes, one port (SO_REUSEPORT)", two_runs)
    ratio = statistics.median(b.rps / a.rps for a, b in zip(one_runs, two_runs, strict=True))
    per_round = ", ".join(
        f"{a.rps:,.0f} → {b.rps:,.0f}" for a, b in zip(one_runs, two_runs, strict=True)
    )
    write_section(
        "scaleout",
        f"""
## Scale-out: one verifier process versus two

Run {stamp()}. Machine: {started}.

ghz, {options.concurrency} concurrent calls over {options.connections} connections,
{options.duration:g} s per run, ALLOW decisions with the audit publish on. The second verifier
binds the **same port** as the first (`grpc.so_reuseport` is set in our server options; both
processes bound it and served), so the kernel hashes each new connection to one of the two.
One and two processes were measured alternately, {options.rounds} rounds (one → two calls/s per
round: {per_round}); the table shows the median round. Decisions made by process 1 / process 2
during each two-process run, from their Prometheus counters: {"; ".join(shares)}.

{run_table([one, two])}

**Two processes / one process throughput (median of the per-round ratios): {ratio:.2f}.**
Everything (both verifiers, the registry, PostgreSQL, Kafka and ghz itself) shares the same
2 vCPUs, so this is a floor, not
the scaling one gets from giving each verifier its own core.
""",
    )


if __name__ == "__main__":
    asyncio.run(main())
