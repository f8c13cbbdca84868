"""The snapshot benchmark's results: headline JSON, the plot, and the benchmarks.md section."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

LOAD_TARGET_S = 15.0
RSS_TARGET_MIB = 1024.0
DELTA_TARGET_MS = 1.0
FLAT_TARGET = 1.5


def _key(size: int) -> str:
    return f"{size // 1000}k" if size < 1_000_000 else f"{size // 1_000_000}m"


def report(
    started: str,
    when: str,
    sizes: Sequence[int],
    inproc: dict[int, dict],
    e2e_rows: list[dict],
    rebuild: dict | None,
    writes: dict | None,
) -> dict:
    """Headline figures (`load_s_1m`, `rss_mib_1m`, `delta_p99_ms_1m`, ...) plus every row."""
    out: dict = {"date": when, "machine": started}
    one_tenant = {row["permissions"]: row for row in e2e_rows if row["tenants"] == 1}
    for size in sizes:
        key = _key(size)
        row = one_tenant[size]
        out[f"load_s_{key}"] = round(row["serving_s"], 2)
        out[f"rss_mib_{key}"] = round(row["verifier_rss_mib"], 1)
        out[f"delta_p99_ms_{key}"] = round(inproc[size]["delta_p99_ms"], 4)
        out[f"decide_p99_us_{key}"] = round(inproc[size]["decide_p99_us"], 1)
    many = [row for row in e2e_rows if row["tenants"] > 1]
    if many:
        out[f"load_s_{_key(sizes[-1])}_{many[0]['tenants']}_tenants"] = round(
            many[0]["serving_s"], 2
        )
        out[f"rss_mib_{_key(sizes[-1])}_{many[0]['tenants']}_tenants"] = round(
            many[0]["verifier_rss_mib"], 1
        )
    first, last = inproc[sizes[0]]["decide_p99_us"], inproc[sizes[-1]]["decide_p99_us"]
    out["decide_p99_ratio_max_vs_min"] = round(last / first, 2)
    out["targets"] = {
        "load_s": LOAD_TARGET_S,
        "rss_mib": RSS_TARGET_MIB,
        "delta_p99_ms": DELTA_TARGET_MS,
        "decide_p99_ratio": FLAT_TARGET,
    }
    out["end_to_end"] = e2e_rows
    out["in_process"] = {str(size): inproc[size] for size in sizes}
    out["rebuild"] = rebuild
    out["writes"] = writes
    return out


def plot(result: dict, path: Path) -> None:
    """Load time and verifier RSS against permissions (log x), with the targets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [row for row in result["end_to_end"] if row["tenants"] == 1]
    sizes = [row["permissions"] for row in rows]
    fig, left = plt.subplots(figsize=(7, 4))
    left.plot(sizes, [row["serving_s"] for row in rows], "o-", color="tab:blue", label="load s")
    left.axhline(LOAD_TARGET_S, color="tab:blue", linestyle=":", label="15 s target")
    left.set_xscale("log")
    left.set_xlabel("permissions (10 per agent), registry → WatchPolicy → verifier")
    left.set_ylabel("seconds to first decision", color="tab:blue")
    right = left.twinx()
    right.plot(
        sizes, [row["verifier_rss_mib"] for row in rows], "s-", color="tab:red", label="RSS MiB"
    )
    right.axhline(RSS_TARGET_MIB, color="tab:red", linestyle=":", label="1 GiB target")
    right.set_ylabel("verifier RSS MiB", color="tab:red")
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    left.legend(handles=handles, loc="upper left", fontsize=8)
    left.set_title(f"Snapshot load, {result['date']}")
    fig.tight_layout()
    fig.savefig(path, format="svg")
    plt.close(fig)


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def markdown(result: dict, table: Callable[[Sequence[str], Sequence[Sequence[str]]], str]) -> str:
    """The `snapshot` section of docs/benchmarks.md."""
    rows = [
        [
            f"{row['permissions']:,}",
            f"{row['agents']:,}",
            f"{row['tenants']:,}",
            f"{row['serving_s']:.2f}",
            f"{row['up_s']:.2f}",
            f"{row['verifier_rss_mib']:.0f}",
            f"{row['verifier_rss_mib'] * 2**20 / row['permissions']:,.0f}",
            f"{row['registry_rss_before_mib']:.0f} → {row['registry_rss_peak_mib']:.0f}",
            f"{row['verifier_cpu_s']:.1f} / {row['registry_cpu_s']:.1f}",
            row["first_decision"].removeprefix("REASON_CODE_"),
        ]
        for row in result["end_to_end"]
    ]
    inproc = [
        [
            f"{int(size):,}",
            f"{m['build_s']:.2f}",
            f"{m['longest_step_ms']:.1f}",
            f"{m['decide_p50_us']:.1f}",
            f"{m['decide_p99_us']:.1f}",
            f"{m['delta_p50_ms'] * 1000:.0f}",
            f"{m['delta_p99_ms'] * 1000:.0f}",
            f"{m['allowed']:.0%}",
        ]
        for size, m in result["in_process"].items()
    ]
    big = max(result["end_to_end"], key=lambda r: (r["permissions"], r["tenants"]))
    key = "1m" if "load_s_1m" in result else None
    lines = [
        "## Snapshot scale",
        "",
        f"Run {result['date']}. Machine: {result['machine']}.",
        "",
        "End to end: the policy (10 permissions per agent, one action each from the six",
        "categories, a third `*.suffix` wildcards, amount limits on transactions, expiries) is",
        "COPYed into the registry's PostgreSQL tables; then one verifier process (one worker)",
        "starts and is timed from exec to its first non-stale Verify answer (the registry",
        "streams the snapshot from a server-side cursor in 5,000-object chunks; the verifier",
        "converts each chunk as it arrives, in steps, off nothing but its own event loop).",
        '"up" is exec to the first answer of any kind (STALE_POLICY while loading): process',
        "start, imports, Kafka producer. RSS is the verifier worker's after the first decision;",
        "the registry's RSS is sampled every 20 ms during the stream.",
        "",
        table(
            [
                "permissions",
                "agents",
                "tenants",
                "first decision s",
                "up s",
                "verifier RSS MiB",
                "RSS bytes/perm",
                "registry RSS MiB (before → peak)",
                "CPU s verifier / registry",
                "first answer",
            ],
            rows,
        ),
        "",
        "![snapshot load time and verifier memory against size](bench/snapshot_scale.svg)",
        "",
        "In-process (the verifier's own work, no transport): `SnapshotBuilder` over serialized",
        'chunks; "longest step" is the longest stretch between two turns of the event loop;',
        "`decide` on random agents across the snapshot; `apply_delta` disables one agent.",
        "",
        table(
            [
                "permissions",
                "build s",
                "longest step ms",
                "decide p50 µs",
                "decide p99 µs",
                "delta p50 µs",
                "delta p99 µs",
                "allowed",
            ],
            inproc,
        ),
        "",
    ]
    if key:
        ratio = result["decide_p99_ratio_max_vs_min"]
        big_ok = big["serving_s"] <= LOAD_TARGET_S and big["verifier_rss_mib"] <= RSS_TARGET_MIB
        delta_us = result["delta_p99_ms_1m"] * 1000
        lines += [
            "| target | measured | |",
            "|---|---|---|",
            f"| first decision at 1M ≤ 15 s | {result['load_s_1m']:.2f} s | "
            f"{_met(result['load_s_1m'] <= LOAD_TARGET_S)} |",
            f"| verifier RSS at 1M ≤ 1 GiB | {result['rss_mib_1m']:.0f} MiB | "
            f"{_met(result['rss_mib_1m'] <= RSS_TARGET_MIB)} |",
            f"| same over {big['tenants']:,} tenants | {big['serving_s']:.2f} s, "
            f"{big['verifier_rss_mib']:.0f} MiB | {_met(big_ok)} |",
            f"| decide p99 flat 10k → 1M (≤ 1.5x) | {ratio:.2f}x | {_met(ratio <= FLAT_TARGET)} |",
            f"| one delta at 1M ≤ 1 ms p99 | {delta_us:.0f} µs | "
            f"{_met(result['delta_p99_ms_1m'] <= DELTA_TARGET_MS)} |",
            "",
        ]
    rebuild = result.get("rebuild")
    if rebuild:
        before, during = rebuild["verify_before"], rebuild["verify_during"]
        lines += [
            f"**Rebuild under load** ({big['permissions']:,} permissions, {big['tenants']:,}"
            " tenants): the registry is killed and restarted at a new revision while four",
            "callers send Verify in a loop; the verifier reconnects and loads the new snapshot",
            f"beside the old one in {rebuild['rebuild_s']:.1f} s. Verify p50/p99 before: "
            f"{before.get('p50_ms', 0):.1f}/{before.get('p99_ms', 0):.1f} ms; during the",
            f"rebuild: {during.get('p50_ms', 0):.1f}/{during.get('p99_ms', 0):.1f} ms "
            f"(max {during.get('max_ms', 0):.0f} ms) over {rebuild['answers_during']:,} answers, "
            f"{rebuild['not_allowed_during']} of them not ALLOW (served from the previous",
            f"snapshot throughout). Peak RSS with both snapshots: "
            f"{rebuild['verifier_hwm_after_mib']:.0f} MiB. Of the "
            f"{rebuild.get('audit_commits_during', 0):,.0f} Kafka audit transactions committed "
            f"meanwhile, {rebuild.get('audit_commits_over_100ms_during', 0):,.0f} took over"
            " 100 ms (a Verify answers only once its decision is committed).",
            "",
        ]
    writes = result.get("writes")
    if writes:
        lines += writes_markdown(writes, table)
    return "\n".join(lines)


def writes_markdown(
    writes: dict, table: Callable[[Sequence[str], Sequence[Sequence[str]]], str]
) -> list[str]:
    rows = [
        [
            run["label"],
            f"{run['concurrency']}",
            f"{run['per_s']:,.0f}",
            f"{run['p50_ms']:.1f}",
            f"{run['p99_ms']:.1f}",
        ]
        for run in writes["runs"]
    ]
    return [
        "**Write side.** " + writes["description"],
        "",
        table(["mutation", "concurrent writers", "mutations/s", "p50 ms", "p99 ms"], rows),
        "",
        writes["analysis"],
        "",
    ]
