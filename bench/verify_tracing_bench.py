"""What tracing costs Verify: the verifier with tracing on beside the same verifier with it off.

    python bench/verify_tracing_bench.py [--duration 5] [--rounds 3] [--concurrency 50]

The verify bench's tracing-on variant, kept apart so it can run on its own (the full
verify_bench.py takes half an hour). Starts real PostgreSQL and Kafka, the registry and three
verifiers of the same build: tracing off (no OTEL_* set); tracing on with every Verify sampled
(the default parent-based always-on sampler; ghz sends no `traceparent`, so each call is a
root): the most tracing can cost; and tracing on sampling one Verify in ten
(`parentbased_traceidratio`, 0.1), what a busy deployment would run. Both export over
OTLP/gRPC to a sink in this process (it counts the spans it receives and keeps none), so the
export is real: batching, serialisation, the gRPC call.

Peaks alternate for --rounds rounds (median round reported, each ratio the median of the
per-round ratios against "off"); then each at 100 calls/s and at half of the off verifier's
peak. Merges `tracing_on_ratio`, `tracing_sampled_ratio` and a `tracing` object into
docs/bench/verify.json (the other figures there come from verify_bench.py's own run) and writes
the `verify-tracing` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
from dataclasses import asdict
from datetime import UTC, datetime

from _common import (
    GHZ,
    REPO,
    Run,
    ghz,
    ghz_verify_args,
    machine,
    median_run,
    run_table,
    running_stack,
    seed,
    settle,
    stamp,
    write_section,
)

from tests.harness.trace_collector import trace_collector

OUT = REPO / "docs" / "bench" / "verify.json"
LOW_RATE = 100
NAMES = {
    "off": "verifier, tracing off (Verify)",
    "on": "verifier, tracing on, all sampled (Verify)",
    "sampled": "verifier, tracing on, 1 in 10 sampled (Verify)",
}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=50)
    options = parser.parse_args()
    if not (REPO / ".bin" / "ghz").exists():
        sys.exit(f"{GHZ} missing: run `make tools`")
    started = machine()
    kw = {"duration": options.duration, "concurrency": options.concurrency}
    with trace_collector(keep=False) as sink:
        async with running_stack() as stack:
            seeded = seed(stack)
            call = ghz_verify_args(seeded.verify_json(), seeded.tenant.verify_key)
            otlp = {
                "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
                "OTEL_EXPORTER_OTLP_INSECURE": "true",
            }
            traced = stack.start_verifier(**otlp)
            sampled = stack.start_verifier(
                **otlp,
                OTEL_TRACES_SAMPLER="parentbased_traceidratio",
                OTEL_TRACES_SAMPLER_ARG="0.1",
            )
            targets = {
                "off": stack.verifiers[0].target,
                "on": traced.target,
                "sampled": sampled.target,
            }
            settle(2)
            for target in targets.values():
                ghz(target, "warm-up", call=call, duration=2, concurrency=10)
            rounds: dict[str, list[Run]] = {name: [] for name in targets}
            for _ in range(options.rounds):
                for name, target in targets.items():
                    rounds[name].append(ghz(target, NAMES[name], call=call, **kw))
            peaks = {n: median_run(f"{NAMES[n]}, peak", runs) for n, runs in rounds.items()}
            half = int(peaks["off"].rps * 0.5)
            fixed: dict[tuple[str, int], Run] = {}
            for rate in (LOW_RATE, half):
                for name, target in targets.items():
                    label = f"{NAMES[name]} at {rate} calls/s"
                    fixed[(name, rate)] = ghz(target, label, call=call, rate=rate, **kw)
            settle(1)  # the last batches reach the sink
            exported = sink.count
    if not exported:  # then "on" measured span making without the export: not the figure
        sys.exit("no span reached the sink: the tracing-on verifiers exported nothing")

    def ratio(name: str) -> float:
        pairs = zip(rounds["off"], rounds[name], strict=True)
        return round(statistics.median(b.rps / a.rps for a, b in pairs), 3)

    tracing = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": started,
        "duration_s": options.duration,
        "rounds": options.rounds,
        "concurrency": options.concurrency,
        "peak_per_s": {n: round(r.rps, 1) for n, r in peaks.items()},
        "tracing_on_ratio": ratio("on"),
        "tracing_sampled_ratio": ratio("sampled"),
        "p50_ms_at_100": {n: fixed[(n, LOW_RATE)].p50_ms for n in targets},
        "p99_ms_at_100": {n: fixed[(n, LOW_RATE)].p99_ms for n in targets},
        "half_peak_rate": half,
        "p50_ms_at_half_peak": {n: fixed[(n, half)].p50_ms for n in targets},
        "p99_ms_at_half_peak": {n: fixed[(n, half)].p99_ms for n in targets},
        "spans_exported": exported,
        "runs": {n: [asdict(r) for r in runs] for n, runs in rounds.items()},
    }
    result = json.loads(OUT.read_text()) if OUT.exists() else {}
    result["tracing_on_ratio"] = tracing["tracing_on_ratio"]
    result["tracing_sampled_ratio"] = tracing["tracing_sampled_ratio"]
    result["tracing"] = tracing
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    plot(tracing)

    def pair(field: str) -> str:
        values = tracing[field]
        return (
            f"{values['off']:.2f} ms off, {values['on']:.2f} ms all sampled, "
            f"{values['sampled']:.2f} ms 1 in 10"
        )

    write_section(
        "verify-tracing",
        f"""
## What tracing costs Verify

Run {stamp()}. Machine: {started}. `bench/verify_tracing_bench.py`: three verifiers of one
build side by side: tracing off, on with every call sampled, and on sampling one call in ten
(`parentbased_traceidratio`); spans exported over OTLP/gRPC to a sink in the bench process
({exported:,} spans received). ghz, {options.concurrency} concurrent calls,
{options.duration:g} s per run, peaks alternated over {options.rounds} rounds (median round);
ghz, Kafka, PostgreSQL and the registry share the same {os.cpu_count()} cores.

Peak throughput against the same verifier with tracing off (median of the per-round ratios):
**{tracing["tracing_on_ratio"]:.2f}x** with every call traced,
**{tracing["tracing_sampled_ratio"]:.2f}x** sampling one in ten. At 100 calls/s p50
{pair("p50_ms_at_100")}, p99 {pair("p99_ms_at_100")}; at {half} calls/s (half of the off peak) p50
{pair("p50_ms_at_half_peak")}, p99 {pair("p99_ms_at_half_peak")}. With tracing off no
interceptor is installed and no header written (docs/tracing.md), so "off" is the verifier as
the verify bench measures it.

{run_table([*peaks.values(), *fixed.values()])}

![tracing's cost on Verify](bench/verify_tracing.svg)
""",
    )


PLOT_OUT = REPO / "docs" / "bench" / "verify_tracing.svg"
_LABELS = {"off": "tracing off", "on": "every call sampled", "sampled": "1 in 10 sampled"}


def plot(tracing: dict) -> None:
    """Peak throughput and p50/p99 at 100 calls/s and at half the off peak, per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(_LABELS)
    fig, (peak_ax, latency_ax) = plt.subplots(1, 2, figsize=(11, 4))
    bars = peak_ax.bar([_LABELS[n] for n in names], [tracing["peak_per_s"][n] for n in names])
    peak_ax.bar_label(bars, fmt="{:,.0f}", fontsize=8)
    peak_ax.set_ylabel("OK calls/s at peak (ghz, 50 concurrent)")
    peak_ax.set_title("Peak throughput")
    points = [
        ("p50 @100/s", "p50_ms_at_100"),
        ("p99 @100/s", "p99_ms_at_100"),
        (f"p50 @{tracing['half_peak_rate']}/s", "p50_ms_at_half_peak"),
        (f"p99 @{tracing['half_peak_rate']}/s", "p99_ms_at_half_peak"),
    ]
    width = 0.27
    for i, name in enumerate(names):
        latency_ax.bar(
            [x + (i - 1) * width for x in range(len(points))],
            [tracing[field][name] for _, field in points],
            width,
            label=_LABELS[name],
        )
    latency_ax.set_xticks(range(len(points)), [label for label, _ in points])
    latency_ax.set_ylabel("ms")
    latency_ax.set_title("Verify latency at fixed rates")
    latency_ax.legend(fontsize=8)
    fig.suptitle(f"Tracing's cost on Verify, {tracing['date']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(PLOT_OUT, format="svg", metadata={"Date": None})
    plt.close(fig)


if __name__ == "__main__":
    asyncio.run(main())
