"""Verify throughput and latency against a bare grpc.aio no-op server, same load generator.

    python bench/verify_bench.py [--duration 8] [--rounds 2] [--concurrency 50]

Starts real PostgreSQL and Kafka, the registry and one verifier with the audit publish on
(acks=all), seeds a tenant whose agent may purchase on coachella.com, then drives the no-op
server and the verifier with ghz, alternating them for --rounds rounds so both see the same
machine (the median round of each is reported); then the verifier at fixed rates of 25%, 50%
and 75% of its peak. Writes the `verify` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys

from _common import (
    GHZ,
    REPO,
    ghz,
    machine,
    median_run,
    run_table,
    running_stack,
    seed,
    settle,
    stamp,
    write_section,
)

from tests.harness.infra import free_port


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=50)
    options = parser.parse_args()
    if not (REPO / ".bin" / "ghz").exists():
        sys.exit(f"{GHZ} missing: run `make tools`")
    started = machine()

    noop_port = free_port()
    noop = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "noop_server.py"), str(noop_port)]
    )
    try:
        async with running_stack() as stack:
            seeded = seed(stack)
            settle()
            key, data = seeded.tenant.verify_key, seeded.verify_json()
            target = stack.verifiers[0].target
            kw = {"duration": options.duration, "concurrency": options.concurrency}
            ghz(target, "warm-up", data, key, duration=3, concurrency=10)
            bare_runs, peak_runs = [], []
            for _ in range(options.rounds):
                bare_runs.append(ghz(f"127.0.0.1:{noop_port}", "bare", data, key, **kw))
                peak_runs.append(ghz(target, "verifier", data, key, **kw))
            bare = median_run("bare grpc.aio no-op, peak", bare_runs)
            peak = median_run("verifier (audit on), peak", peak_runs)
            fixed = [
                ghz(
                    target,
                    f"verifier at {int(share * 100)}% of peak ({int(peak.rps * share)} req/s)",
                    data,
                    key,
                    rate=int(peak.rps * share),
                    **kw,
                )
                for share in (0.25, 0.5, 0.75)
            ]
    finally:
        noop.terminate()
        noop.wait()

    ratio = statistics.median(p.rps / b.rps for b, p in zip(bare_runs, peak_runs, strict=True))
    rounds = ", ".join(
        f"{b.rps:,.0f} / {p.rps:,.0f}" for b, p in zip(bare_runs, peak_runs, strict=True)
    )
    write_section(
        "verify",
        f"""
## Verify throughput and latency

Run {stamp()}. Machine: {started}.

ghz, {options.concurrency} concurrent calls over 4 connections, {options.duration:g} s per run,
against the verifier (ALLOW decisions, each published to Kafka with acks=all before the reply)
and a bare `grpc.aio` server answering the same RPC with an empty reply. The two peaks were
measured alternately, {options.rounds} rounds (bare / verifier calls/s per round: {rounds});
the table shows the median round. Latencies are over successful calls; "cut at end" are calls
ghz itself cancels when a timed run ends.

{run_table([bare, peak, *fixed])}

**Verifier / bare throughput ratio (median of the per-round ratios): {ratio:.2f}.**
p99 at 50% of peak: {fixed[1].p99_ms:.1f} ms.
""",
    )


if __name__ == "__main__":
    asyncio.run(main())
