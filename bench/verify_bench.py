"""Verify against a bare grpc.aio server and a real peer (OPA's Rego engine), in one run.

    python bench/verify_bench.py [--duration 8] [--point-duration 30] [--rounds 2]
                                 [--concurrency 50]

Starts real PostgreSQL and Kafka, the registry, and these servers side by side:
- the verifier (one process, the audit on: each decision committed to Kafka before the reply),
  driven through Behalf's Verify and through Envoy's ext_authz Check;
- the same verifier with its audit replaced by nothing, and with each audit batch sent as
  idempotent records without a transaction (bench/verifier_variants.py), so the report can tell
  the audit's cost from the RPC's, and the transaction's from the send's;
- a bare grpc.aio server answering Verify and Check with no work (bench/noop_server.py);
- OPA's Rego engine in a Go ext_authz server (bench/opa_peer, built into .cache/bench) holding
  the same grant;
- a verifier pod of two worker processes on one port (BEHALF_VERIFIER_WORKERS=2).

The broker compiles with C2 as a production broker does (not the C1-only start tests use) and
is warmed by BROKER_WARM_UP_SECONDS of Verify traffic before anything is timed.

ghz drives each with the brief's example (this agent may purchase on coachella.com up to
800.00 USD; every call an ALLOW). Peaks (--duration each) are measured alternately for --rounds
rounds, the median round reported; then each server at 100 calls/s and at 25/50/75% of its own
peak (--point-duration each), each point begun once the machine is idle again (so it never
shares the cores with what the last one left behind). The audit transaction's own latency (the
verifier's behalf_verifier_audit_commit_seconds) is read over each verifier point. Then the
peaks again, and the verifier at 100 calls/s and at half of its peak, with the server under test
on a core of its own and everything else on the others (bench/_cpu_layout.py). Writes
docs/bench/verify.json, docs/bench/verify_latency.svg, docs/bench/verify_peaks.svg and the
`verify` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt
from _common import (
    GHZ,
    REPO,
    Run,
    ghz,
    ghz_verify_args,
    machine,
    median_run,
    quiesce,
    run_table,
    running_stack,
    seed,
    settle,
    stamp,
    table,
    write_section,
)
from _cpu_layout import SERVER_CPUS, available, listener_pid, own_core
from _opa_peer import allows, build, check_json, ghz_check_args, policy_data, running_opa_peer

from tests.harness.infra import free_port
from tests.harness.processes import ServiceProcess
from tests.harness.stack import Stack

OUT = REPO / "docs" / "bench"
COMMIT_METRIC = "behalf_verifier_audit_commit_seconds"
LOW_RATE = 100
# Long enough for the broker's C2 to compile its request path on two shared cores: after 20 s
# of load it still cost more than C1 alone; after 90 s half as much CPU per audit transaction
# (docs/benchmarks.md, Analysis).
BROKER_WARM_UP_SECONDS = 90
BROKER_WARM_UP_RATE = 1000
SHARES = (0.25, 0.5, 0.75)
TARGETS = {
    "ratio_vs_bare": 0.6,
    "p50_ms_at_100": 5.0,
    "p99_ms_at_100": 10.0,
    "p99_ms_at_half_peak": 15.0,
}

# name -> what the report calls it
SERVERS = {
    "bare": "bare grpc.aio no-op (Verify)",
    "bare_check": "bare grpc.aio no-op (Check)",
    "verifier": "verifier, audit on (Verify)",
    "verifier_check": "verifier, audit on (ext_authz Check)",
    "verifier_unaudited": "verifier, no audit (Verify)",
    "verifier_idempotent": "verifier, audit without a transaction (Verify)",
    "opa": "OPA Rego peer, Go (ext_authz Check)",
}
CURVES = ("bare", "verifier", "verifier_unaudited", "verifier_idempotent", "verifier_check", "opa")
# Measured again with the server under test on a core of its own (bench/_cpu_layout.py).
OWN_CORE = ("bare", "bare_check", "verifier", "verifier_check", "opa")


@contextmanager
def variant_verifier(stack: Stack, variant: str) -> Iterator[ServiceProcess]:
    """bench/verifier_variants.py beside the stack's verifier, on its own ports."""
    grpc_port, metrics_port = free_port(), free_port()
    env = {
        **stack.env,
        "BEHALF_GRPC_PORT": str(grpc_port),
        "BEHALF_METRICS_PORT": str(metrics_port),
        "BEHALF_HTTP_PORT": "0",
        "BEHALF_REGISTRY_INTERNAL_TARGET": stack.registry.internal_target,
    }
    log_path = stack.log_dir / f"{variant}-verifier-{grpc_port}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, str(REPO / "bench" / "verifier_variants.py"), variant],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
    verifier = ServiceProcess("verifier", grpc_port, metrics_port, log_path, process, env)
    try:
        verifier.wait_serving()
        yield verifier
    finally:
        verifier.kill()


def histogram(metrics_port: int, name: str) -> dict[float, float]:
    """Cumulative bucket counts of one histogram, summed over its label sets."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    buckets: dict[float, float] = {}
    for match in re.finditer(rf'^{name}_bucket{{.*?le="([^"]+)".*?}} (\S+)$', text, re.M):
        bound = float("inf") if match[1] == "+Inf" else float(match[1])
        buckets[bound] = buckets.get(bound, 0.0) + float(match[2])
    return buckets


def quantile_ms(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """The q-quantile of what a histogram observed between two scrapes, interpolated within
    its bucket (as Prometheus's histogram_quantile does), in milliseconds."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return 0.0
    rank, lower, below = q * total, 0.0, 0.0
    for bound, cumulative in zip(bounds, counts, strict=True):
        if cumulative >= rank:
            if bound == float("inf"):
                return lower * 1000
            share = (rank - below) / (cumulative - below) if cumulative > below else 1.0
            return (lower + (bound - lower) * share) * 1000
        lower, below = bound, cumulative
    return lower * 1000


def before_and_after(result: dict[str, Any]) -> str:
    """The headline figures against docs/bench/verify.before.json (the run before issue 15)."""
    path = OUT / "verify.before.json"
    if not path.exists():
        return ""
    before = json.loads(path.read_text())
    rows = [
        [label, f"{before[key]:.2f}", f"{result[key]:.2f}"]
        for label, key in (
            ("throughput vs bare", "ratio_vs_bare"),
            ("throughput vs OPA (Check)", "ratio_vs_opa"),
            ("p50 ms at 100/s", "p50_ms_at_100"),
            ("p99 ms at 100/s", "p99_ms_at_100"),
            ("p99 ms at half of peak", "p99_ms_at_half_peak"),
        )
    ]
    return (
        "Against the first run of this benchmark, with three audit lanes "
        f"({before['date']}, verify.before.json):\n\n" + table(["figure", "before", "now"], rows)
    )


@dataclass
class Point:
    """One fixed-rate point: ghz's run, how long the cores took to go idle before it, and the
    audit commit's p50 and p99 in ms meanwhile (read from the audited verifier)."""

    run: Run
    quiet_wait: float
    commit_ms: tuple[float, float]


def fixed_rate_point(
    target: str,
    call: list[str],
    label: str,
    rate: int,
    *,
    duration: float,
    concurrency: int,
    metrics_port: int,
) -> Point:
    """Once the cores are idle again, ghz at `rate` for `duration`."""
    quiet_wait = quiesce()
    before = histogram(metrics_port, COMMIT_METRIC)
    run = ghz(target, label, call=call, rate=rate, duration=duration, concurrency=concurrency)
    after = histogram(metrics_port, COMMIT_METRIC)
    commit = (round(quantile_ms(before, after, 0.5), 2), round(quantile_ms(before, after, 0.99), 2))
    return Point(run, quiet_wait, commit)


def per_round_ratio(a: list[Run], b: list[Run]) -> float:
    """The median over rounds of a's throughput over b's (the runs of a round side by side)."""
    return statistics.median(x.rps / y.rps for x, y in zip(a, b, strict=True))


def targets_met(figures: dict[str, Any]) -> dict[str, bool]:
    """Which of the issue's targets these headline figures meet."""
    return {
        key: figures[key] >= goal if key.startswith("ratio") else figures[key] <= goal
        for key, goal in TARGETS.items()
    }


def measure_own_core(
    servers: dict[str, tuple[str, list[str]]],
    base: Path,
    metrics_port: int,
    *,
    rounds: int,
    peak_kw: dict[str, Any],
    point_duration: float,
) -> dict[str, Any]:
    """The servers' peaks, alternated, and the verifier at 100 calls/s and at half of its peak,
    each with the server on a core of its own and everything else on the other cores."""
    runs: dict[str, list[Run]] = {name: [] for name in OWN_CORE}
    for _ in range(rounds):
        for name in OWN_CORE:
            target, call = servers[name]
            with own_core(listener_pid(target), base):
                runs[name].append(ghz(target, SERVERS[name], call=call, **peak_kw))
    peaks = {n: median_run(f"{SERVERS[n]}, peak, own core", r) for n, r in runs.items()}
    target, call = servers["verifier"]
    half_rate = int(peaks["verifier"].rps * 0.5)
    points: dict[int, Point] = {}
    for rate in (LOW_RATE, half_rate):
        with own_core(listener_pid(target), base):
            points[rate] = fixed_rate_point(
                target,
                call,
                f"{SERVERS['verifier']} at {rate} calls/s, own core",
                rate,
                duration=point_duration,
                concurrency=peak_kw["concurrency"],
                metrics_port=metrics_port,
            )

    def ratio(a: str, b: str) -> float:
        return per_round_ratio(runs[a], runs[b])

    low, half = points[LOW_RATE], points[half_rate]
    return {
        "server_cpus": sorted(SERVER_CPUS),
        "peak_per_s": {n: round(r.rps, 1) for n, r in peaks.items()},
        "ratio_vs_bare": round(ratio("verifier", "bare"), 3),
        "ratio_vs_bare_check": round(ratio("verifier_check", "bare_check"), 3),
        "ratio_vs_opa": round(ratio("verifier_check", "opa"), 3),
        "p50_ms_at_100": low.run.p50_ms,
        "p99_ms_at_100": low.run.p99_ms,
        "half_peak_rate": half_rate,
        "p50_ms_at_half_peak": half.run.p50_ms,
        "p99_ms_at_half_peak": half.run.p99_ms,
        "audit_commit_p50_ms_at_half_peak": half.commit_ms[0],
        "audit_commit_p99_ms_at_half_peak": half.commit_ms[1],
        "peaks": [asdict(r) for r in peaks.values()],
        "points": [asdict(point.run) for point in points.values()],
        "runs": {n: [asdict(r) for r in rs] for n, rs in runs.items()},
    }


def targets_table(shared: dict[str, Any], alone: dict[str, Any] | None) -> str:
    """Each target against the shared-cores figures and, when measured, the own-core ones."""
    rows = (
        ("throughput, audit on, ≥ {:g}x bare", "ratio_vs_bare", "{:.2f}x"),
        ("p50 at 100 calls/s ≤ {:g} ms", "p50_ms_at_100", "{:.2f} ms"),
        ("p99 at 100 calls/s ≤ {:g} ms", "p99_ms_at_100", "{:.2f} ms"),
        ("p99 at half of peak ≤ {:g} ms", "p99_ms_at_half_peak", "{:.2f} ms"),
    )
    layouts = [shared] + ([alone] if alone else [])
    headers = ["target", "shared cores", ""]
    if alone:
        headers += ["server on a core of its own", ""]
    return table(
        headers,
        [
            [label.format(TARGETS[key])]
            + [
                cell
                for figures in layouts
                for cell in (
                    fmt.format(figures[key]),
                    "met" if figures["targets_met"][key] else "**missed**",
                )
            ]
            for label, key, fmt in rows
        ],
    )


def own_core_section(alone: dict[str, Any] | None, rounds: int, point_duration: float) -> str:
    if alone is None:
        return (
            "(Not measured with a core of its own: this process may not run on CPU 0 and"
            " another CPU.)"
        )
    fixed = [Run(**run) for run in alone["points"]]
    return f"""**With a core of its own.** The same servers again, each pinned in turn to CPU
{", ".join(map(str, alone["server_cpus"]))} while everything else (ghz, the broker, PostgreSQL,
the registry, the idle servers) runs on the other CPUs: what one server core does when, as for
a pod, its neighbours are elsewhere. The OPA peer here is a second one, started with GOMAXPROCS
set to those CPUs (Go counts its CPUs once, at start). Peaks alternated over {rounds} rounds;
the verifier at 100 calls/s and at half of this peak over {point_duration:g} s each.
Verifier/bare
{alone["ratio_vs_bare"]:.2f}x (Check: {alone["ratio_vs_bare_check"]:.2f}x), verifier/OPA
{alone["ratio_vs_opa"]:.2f}x; at half of peak ({alone["half_peak_rate"]:,} calls/s) p50
{alone["p50_ms_at_half_peak"]:.2f} ms, the audit commit p50
{alone["audit_commit_p50_ms_at_half_peak"]:.2f} ms and p99
{alone["audit_commit_p99_ms_at_half_peak"]:.2f} ms.

{run_table([Run(**run) for run in alone["peaks"]] + fixed)}
"""


def plot_latency(curves: dict[str, list[tuple[int, Run]]], path: str) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, field, title in ((axes[0], "p50_ms", "p50"), (axes[1], "p99_ms", "p99")):
        for name, points in curves.items():
            ax.plot(
                [rate for rate, _ in points],
                [getattr(run, field) for _, run in points],
                marker="o",
                label=SERVERS[name],
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("offered load, calls/s")
        ax.set_title(f"{title} latency against offered load")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("ms")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_peaks(
    peaks: dict[str, Run], workers: dict[str, float], own_core: dict[str, float], path: str
) -> None:
    """Peaks on shared cores (blue), then each server on a core of its own (orange)."""
    labels = [SERVERS[n] for n in peaks] + [f"verifier, {k}" for k in workers]
    values = [r.rps for r in peaks.values()] + list(workers.values())
    colors = ["#4c78a8"] * len(values) + ["#f58518"] * len(own_core)
    labels += [f"{label}, own core" for label in own_core]
    values += list(own_core.values())
    fig, ax = plt.subplots(figsize=(9, 4.2 + 0.25 * len(own_core)))
    bars = ax.barh(labels, values, color=colors)
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], padding=3, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("OK calls/s at peak (ghz, 50 concurrent)")
    ax.set_title("Peak throughput, one run on one machine")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=8, help="seconds per peak run")
    # A p99 needs time as well as calls: at ~1,100 calls/s an 8 s point is decided by whether
    # one 100-200 ms stall of the shared machine (a broker collection, a scheduling gap that
    # stops ghz too) falls inside it (docs/benchmarks.md, Analysis).
    parser.add_argument(
        "--point-duration", type=float, default=30, help="seconds per fixed-rate point"
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=50)
    options = parser.parse_args()
    if not (REPO / ".bin" / "ghz").exists():
        sys.exit(f"{GHZ} missing: run `make tools`")
    build()  # before anything is timed
    started = machine()
    kw = {"duration": options.duration, "concurrency": options.concurrency}

    noop_port = free_port()
    noop = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "noop_server.py"), str(noop_port)]
    )
    try:
        async with running_stack(broker_full_jit=True) as stack:
            seeded = seed(stack)
            key = seeded.tenant.verify_key
            verify_call = ghz_verify_args(seeded.verify_json(), key)
            check = check_json(seeded.agent_id)
            check_call = ghz_check_args(check, key)
            audited = stack.verifiers[0]
            with (
                variant_verifier(stack, "none") as unaudited,
                variant_verifier(stack, "idempotent") as idempotent,
                running_opa_peer(policy_data(seeded.agent_id, key)) as opa,
                running_opa_peer(
                    policy_data(seeded.agent_id, key), cpus=len(SERVER_CPUS)
                ) as opa_own_core,
            ):
                two_workers = stack.start_verifier(BEHALF_VERIFIER_WORKERS="2")
                settle(2)
                for target in (audited.target, opa):
                    if not allows(target, check, key):
                        sys.exit(f"{target} does not allow the benchmark's Check")
                servers = {
                    "bare": (f"127.0.0.1:{noop_port}", verify_call),
                    "bare_check": (f"127.0.0.1:{noop_port}", check_call),
                    "verifier": (audited.target, verify_call),
                    "verifier_check": (audited.target, check_call),
                    "verifier_unaudited": (unaudited.target, verify_call),
                    "verifier_idempotent": (idempotent.target, verify_call),
                    "opa": (opa, check_call),
                }
                ghz(
                    audited.target,
                    "broker warm-up",
                    call=verify_call,
                    rate=BROKER_WARM_UP_RATE,
                    duration=BROKER_WARM_UP_SECONDS,
                    concurrency=options.concurrency,
                )
                for target, call in servers.values():
                    ghz(target, "warm-up", call=call, duration=2, concurrency=10)

                rounds: dict[str, list[Run]] = {name: [] for name in servers}
                for _ in range(options.rounds):
                    for name, (target, call) in servers.items():
                        rounds[name].append(ghz(target, SERVERS[name], call=call, **kw))
                peaks = {n: median_run(f"{SERVERS[n]}, peak", runs) for n, runs in rounds.items()}

                curves: dict[str, list[tuple[int, Run]]] = {}
                commits: dict[int, tuple[float, float]] = {}  # rate -> commit p50, p99 ms
                quiet_waits: list[float] = []  # before each point: seconds until the cores idle
                for name in CURVES:
                    target, call = servers[name]
                    rates = sorted({LOW_RATE, *(int(peaks[name].rps * s) for s in SHARES)})
                    curves[name] = []
                    for rate in rates:
                        point = fixed_rate_point(
                            target,
                            call,
                            f"{SERVERS[name]} at {rate} calls/s",
                            rate,
                            duration=options.point_duration,
                            concurrency=options.concurrency,
                            metrics_port=audited.metrics_port,
                        )
                        quiet_waits.append(point.quiet_wait)
                        curves[name].append((rate, point.run))
                        if name == "verifier":
                            commits[rate] = point.commit_ms

                # One process against two on one port: more connections, so the kernel can
                # spread them; alternated like the peaks.
                scale_kw = {**kw, "connections": 8}
                one, two = [], []
                for _ in range(options.rounds):
                    one.append(ghz(audited.target, "1 worker", call=verify_call, **scale_kw))
                    two.append(ghz(two_workers.target, "2 workers", call=verify_call, **scale_kw))

                alone = None
                if available():
                    alone = measure_own_core(
                        {**servers, "opa": (opa_own_core, check_call)},
                        stack.log_dir.parent,
                        audited.metrics_port,
                        rounds=options.rounds,
                        peak_kw=kw,
                        point_duration=options.point_duration,
                    )
    finally:
        noop.terminate()
        noop.wait()

    def at(name: str, rate: int) -> Run:
        return next(run for r, run in curves[name] if r == rate)

    def half(name: str) -> Run:
        return at(name, int(peaks[name].rps * 0.5))

    def ratio(a: str, b: str) -> float:
        return per_round_ratio(rounds[a], rounds[b])

    one_peak = statistics.median(r.rps for r in one)
    two_peak = statistics.median(r.rps for r in two)
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": started,
        "broker": {
            "jit": "C1 and C2",
            "warm_up_seconds": BROKER_WARM_UP_SECONDS,
            "warm_up_rate_per_s": BROKER_WARM_UP_RATE,
        },
        "peak_per_s": {n: round(r.rps, 1) for n, r in peaks.items()},
        "ratio_vs_bare": round(ratio("verifier", "bare"), 3),
        "ratio_vs_bare_check": round(ratio("verifier_check", "bare_check"), 3),
        "ratio_vs_opa": round(ratio("verifier_check", "opa"), 3),
        "ratio_unaudited_vs_bare": round(ratio("verifier_unaudited", "bare"), 3),
        "ratio_idempotent_vs_bare": round(ratio("verifier_idempotent", "bare"), 3),
        "p50_ms_at_100": at("verifier", LOW_RATE).p50_ms,
        "p99_ms_at_100": at("verifier", LOW_RATE).p99_ms,
        "p99_ms_at_half_peak": half("verifier").p99_ms,
        "check_p50_ms_at_100": at("verifier_check", LOW_RATE).p50_ms,
        "check_p99_ms_at_100": at("verifier_check", LOW_RATE).p99_ms,
        "opa_p50_ms_at_100": at("opa", LOW_RATE).p50_ms,
        "opa_p99_ms_at_100": at("opa", LOW_RATE).p99_ms,
        "opa_p99_ms_at_half_peak": half("opa").p99_ms,
        "p50_ratio_vs_opa_at_100": round(
            at("verifier_check", LOW_RATE).p50_ms / at("opa", LOW_RATE).p50_ms, 2
        ),
        "p99_ratio_vs_opa_at_100": round(
            at("verifier_check", LOW_RATE).p99_ms / at("opa", LOW_RATE).p99_ms, 2
        ),
        "unaudited_p50_ms_at_100": at("verifier_unaudited", LOW_RATE).p50_ms,
        "unaudited_p99_ms_at_100": at("verifier_unaudited", LOW_RATE).p99_ms,
        "idempotent_p50_ms_at_100": at("verifier_idempotent", LOW_RATE).p50_ms,
        "idempotent_p99_ms_at_100": at("verifier_idempotent", LOW_RATE).p99_ms,
        "idempotent_p99_ms_at_half_peak": half("verifier_idempotent").p99_ms,
        "audit_commit_p50_ms_at_100": commits[LOW_RATE][0],
        "audit_commit_p99_ms_at_100": commits[LOW_RATE][1],
        "audit_commit_p50_ms_at_half_peak": commits[int(peaks["verifier"].rps * 0.5)][0],
        "audit_commit_p99_ms_at_half_peak": commits[int(peaks["verifier"].rps * 0.5)][1],
        "seconds_until_idle_before_points": [round(w, 1) for w in quiet_waits],
        "workers": {
            "one_per_s": round(one_peak, 1),
            "two_per_s": round(two_peak, 1),
            "two_vs_one": round(two_peak / one_peak, 3),
        },
        "runs": {n: [asdict(r) for r in runs] for n, runs in rounds.items()},
        "curves": {n: [{"rate": r, **asdict(run)} for r, run in pts] for n, pts in curves.items()},
    }
    result["targets_met"] = targets_met(result)
    result["own_core"] = alone
    if alone is not None:
        alone["targets_met"] = targets_met(alone)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "verify.json").write_text(json.dumps(result, indent=2) + "\n")
    plot_latency(curves, str(OUT / "verify_latency.svg"))
    plot_peaks(
        peaks,
        {"1 worker (8 conns)": one_peak, "2 workers (8 conns)": two_peak},
        {SERVERS[n]: rps for n, rps in alone["peak_per_s"].items()} if alone else {},
        str(OUT / "verify_peaks.svg"),
    )

    fixed = [run for name in CURVES for _, run in curves[name]]
    write_section(
        "verify",
        f"""
## Verify throughput and latency, beside a bare server and OPA

Run {stamp()}. Machine: {started}. ghz, {options.concurrency} concurrent calls over 4
connections; peaks over {options.duration:g} s, alternated over {options.rounds} rounds (median
round shown), each point of the latency curves over {options.point_duration:g} s; every call
is an ALLOW of the brief's example. The verifier is one process unless
said otherwise; ghz, Kafka, PostgreSQL and the registry share the same {os.cpu_count()} cores.
The broker runs with its full JIT (C2, as in production) and took
{BROKER_WARM_UP_SECONDS} s of Verify at {BROKER_WARM_UP_RATE:,} calls/s before anything was timed.
Each point of the latency curves begins once those cores are at least 80% idle again (waits
before the points: up to {max(quiet_waits):.0f} s), so it never shares them with what the
previous point left behind.

![latency against offered load](bench/verify_latency.svg)
![peak throughput](bench/verify_peaks.svg)

{run_table(list(peaks.values()))}

{targets_table(result, alone)}

Against the peer (ext_authz Check on both): verifier/OPA throughput
**{result["ratio_vs_opa"]:.2f}x**; at 100 calls/s p50 {result["check_p50_ms_at_100"]:.2f} ms vs
{result["opa_p50_ms_at_100"]:.2f} ms ({result["p50_ratio_vs_opa_at_100"]}x), p99
{result["check_p99_ms_at_100"]:.2f} ms vs {result["opa_p99_ms_at_100"]:.2f} ms
({result["p99_ratio_vs_opa_at_100"]}x). Check against the bare Check:
{result["ratio_vs_bare_check"]:.2f}x.

The audit's share: without it the verifier reaches {result["ratio_unaudited_vs_bare"]:.2f}x the
bare server, p50 {result["unaudited_p50_ms_at_100"]:.2f} ms and p99
{result["unaudited_p99_ms_at_100"]:.2f} ms at 100 calls/s. With each batch sent as idempotent
acks=all records but no transaction (not what production does: a late ack could then leave
in the trail an allow the caller was told was a deny) it reaches
{result["ratio_idempotent_vs_bare"]:.2f}x, p50 {result["idempotent_p50_ms_at_100"]:.2f} ms and
p99 {result["idempotent_p99_ms_at_100"]:.2f} ms at 100 calls/s, p99
{result["idempotent_p99_ms_at_half_peak"]:.2f} ms at half of its peak. The audit transaction
itself (begin, records, commit; behalf_verifier_audit_commit_seconds, interpolated within its
buckets): p50 {result["audit_commit_p50_ms_at_100"]:.2f} ms, p99
{result["audit_commit_p99_ms_at_100"]:.2f} ms at 100 calls/s; p50
{result["audit_commit_p50_ms_at_half_peak"]:.2f} ms, p99
{result["audit_commit_p99_ms_at_half_peak"]:.2f} ms at half of peak.

{before_and_after(result)}

Two workers on one port against one process (8 connections): {two_peak:,.0f} vs
{one_peak:,.0f} calls/s ({result["workers"]["two_vs_one"]:.2f}x).

{
            table(
                ["fixed-rate run", "OK calls/s", "p50 ms", "p99 ms", "p99.9 ms", "errors"],
                [
                    [
                        r.label,
                        f"{r.rps:,.0f}",
                        f"{r.p50_ms:.2f}",
                        f"{r.p99_ms:.2f}",
                        f"{r.p999_ms:.2f}",
                        f"{r.errors}/{r.total}",
                    ]
                    for r in fixed
                ],
            )
        }

{own_core_section(alone, options.rounds, options.point_duration)}
""",
    )


if __name__ == "__main__":
    asyncio.run(main())
