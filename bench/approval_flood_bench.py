"""Approval flood: one tenant's REQUIRE_APPROVAL storm must not slow another tenant's mutations.

    python bench/approval_flood_bench.py [--trials 300] [--rounds 3] [--rate 500]

Starts real PostgreSQL and Kafka, the registry and a verifier. Tenant A has an agent whose
only permission requires approval; tenant B has four agents. Tenant B's admin alternately
disables and re-enables its agents, one call at a time, 20 ms apart, and the latency of each
`DisableAgent`/`EnableAgent` call is recorded; each is followed by a timed `GetAgent` (a read
that takes no revision lock) to tell lock waits apart from the shared connection pool and CPU.
First with nothing else running ("idle"), then while ghz drives tenant A's verify key open-loop
(`--async --rps`) with Verifies that each carry a fresh request id, so every one creates an
approval ("loaded"). Idle and loaded phases alternate for --rounds rounds. The achieved
approval rate is the flood's REQUIRE_APPROVAL decisions (the verifier's decision counter) over
the time ghz ran. Writes docs/bench/approval_flood.json, docs/bench/approval_flood.svg and the
`approval-flood` section of docs/benchmarks.md. A docs/bench/approval_flood.before.json, when
present, is a baseline run (of an earlier commit) drawn beside this one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from _common import REPO, ghz_verify_args, machine, running_stack, settle, stamp, summary, table
from _common import write_section as write_doc_section

from behalf.v1 import common_pb2, registry_pb2, registry_pb2_grpc, verifier_pb2
from tests.harness.stack import Stack

OUT = REPO / "docs" / "bench"
TARGET_RATIO = 2.0
TENANT_B_AGENTS = 4
TRIAL_GAP_S = 0.02
LOAD_WARMUP_S = 2.0
DRAIN_S = 3.0


# --- the load: ghz, open loop ------------------------------------------------------------------


def start_flood(target: str, key: str, agent_id: str, rate: int) -> subprocess.Popen[str]:
    """ghz sending `rate` REQUIRE_APPROVAL Verifies per second until interrupted."""
    data = {
        "agent_id": agent_id,
        "action": "purchase",
        "resource": "coachella.com",
        "amount": {"amount_minor": 100, "currency": "USD"},
        "request_id": "flood-{{.UUID}}",
    }
    args = [
        *ghz_verify_args(data, key),
        "--async",
        "--rps",
        str(rate),
        "-c",
        "50",
        "--connections",
        "4",
        "--timeout",
        "5s",
        "-z",
        "1h",
        "--format",
        "json",
        target,
    ]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop_flood(proc: subprocess.Popen[str]) -> dict[str, int]:
    """Interrupt ghz and count its calls by status (empty if it printed no report)."""
    proc.send_signal(signal.SIGINT)
    try:
        out, _err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {}
    try:
        report = json.loads(out)
    except json.JSONDecodeError:
        return {}
    return {k: int(v) for k, v in (report.get("statusCodeDistribution") or {}).items()}


def decisions_by_outcome(metrics_port: int) -> dict[str, float]:
    """The verifier's decision counter, summed per outcome label."""
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("behalf_verifier_decisions_total{"):
            labels, value = line.rsplit(" ", 1)
            outcome = labels.split('outcome="', 1)[1].split('"', 1)[0]
            reason = labels.split('reason="', 1)[1].split('"', 1)[0]
            key = outcome if "REQUIRE_APPROVAL" in outcome else f"{outcome} {reason}"
            counts[key] = counts.get(key, 0.0) + float(value)
    return counts


def approvals(counts: dict[str, float]) -> float:
    return sum(v for k, v in counts.items() if "REQUIRE_APPROVAL" in k)


# --- tenant B's mutations ----------------------------------------------------------------------


@dataclass
class Phase:
    """Latencies (seconds) of tenant B's calls during one phase."""

    mutations: list[float] = field(default_factory=list)
    reads: list[float] = field(default_factory=list)

    def __iadd__(self, other: Phase) -> Phase:
        self.mutations += other.mutations
        self.reads += other.reads
        return self


class TenantB:
    """Tenant B's admin, toggling its agents one call at a time."""

    def __init__(self, registry: registry_pb2_grpc.RegistryServiceStub, admin, agents) -> None:
        self.registry = registry
        self.admin = admin
        self.agents: list[str] = list(agents)
        self.disabled = [False] * len(self.agents)
        self.turn = 0
        self.failures = 0

    async def trial(self) -> float | None:
        """One DisableAgent or EnableAgent; its latency in seconds, None if it failed."""
        index = (self.turn // 2) % len(self.agents)
        self.turn += 1
        agent_id = self.agents[index]
        started = time.monotonic()
        try:
            if self.disabled[index]:
                await self.registry.EnableAgent(
                    registry_pb2.EnableAgentRequest(agent_id=agent_id),
                    metadata=self.admin,
                    timeout=10,
                )
            else:
                await self.registry.DisableAgent(
                    registry_pb2.DisableAgentRequest(agent_id=agent_id),
                    metadata=self.admin,
                    timeout=10,
                )
        except grpc.aio.AioRpcError:
            self.failures += 1
            return None
        self.disabled[index] = not self.disabled[index]
        return time.monotonic() - started

    async def read(self) -> float | None:
        """One GetAgent (no policy revision, no lock, one pooled query); seconds, or None."""
        started = time.monotonic()
        try:
            await self.registry.GetAgent(
                registry_pb2.GetAgentRequest(agent_id=self.agents[0]),
                metadata=self.admin,
                timeout=10,
            )
        except grpc.aio.AioRpcError:
            self.failures += 1
            return None
        return time.monotonic() - started

    async def run(self, trials: int, max_seconds: float = float("inf")) -> Phase:
        """Up to `trials` mutations, each followed by a read, stopping once `max_seconds` pass."""
        phase = Phase()
        deadline = time.monotonic() + max_seconds
        for _ in range(trials):
            if time.monotonic() > deadline:
                break
            for latency, into in (
                (await self.trial(), phase.mutations),
                (await self.read(), phase.reads),
            ):
                if latency is not None:
                    into.append(latency)
            await asyncio.sleep(TRIAL_GAP_S)
        return phase


# --- set-up ------------------------------------------------------------------------------------


def setup(stack: Stack) -> tuple[str, str, TenantB]:
    """Tenant A with an approval-gated agent (its verify key, the agent), and tenant B."""
    tenant_a = stack.create_tenant("flooder")
    agent_a, _ = stack.agent_with_grant(tenant_a, "needs-approval", requires_approval=True)
    tenant_b = stack.create_tenant("bystander")
    agents_b = [
        stack.agent_with_grant(tenant_b, f"bystander-{i}")[0] for i in range(TENANT_B_AGENTS)
    ]
    channel = grpc.aio.insecure_channel(stack.registry.target)
    registry = registry_pb2_grpc.RegistryServiceStub(channel)
    return tenant_a.verify_key, agent_a, TenantB(registry, tenant_b.admin, agents_b)


def check_requires_approval(stack: Stack, key: str, agent_id: str) -> None:
    """Fail early if tenant A's Verify is not a REQUIRE_APPROVAL (the flood would be wrong)."""
    reply = stack.verifier_stub().Verify(
        verifier_pb2.VerifyRequest(
            agent_id=agent_id,
            action="purchase",
            resource="coachella.com",
            amount=common_pb2.Money(amount_minor=100, currency="USD"),
            request_id=f"check-{time.time_ns()}",
        ),
        metadata=(("authorization", f"Bearer {key}"),),
        timeout=10,
    )
    outcome = reply.decision.outcome
    if outcome != common_pb2.OUTCOME_REQUIRE_APPROVAL:
        raise RuntimeError(f"tenant A's Verify is {reply.decision}, not REQUIRE_APPROVAL")


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get("BEHALF_BENCH_COMMIT", "unknown")


# --- CPU use ------------------------------------------------------------------------------------


def cpu_sample(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process, plus the machine's busy and total."""
    tick = os.sysconf("SC_CLK_TCK")
    sample = {"wall": time.monotonic()}
    for name, pid in pids.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        sample[name] = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    jiffies = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    sample["machine_total"] = sum(jiffies) / tick
    sample["machine_idle"] = (jiffies[3] + jiffies[4]) / tick  # idle + iowait
    return sample


class CpuUse:
    """CPU use summed over several windows: cores per process, and the machine's busy share."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}

    def add(self, start: dict[str, float], end: dict[str, float]) -> None:
        for key in end.keys() & start.keys():
            self.totals[key] = self.totals.get(key, 0.0) + end[key] - start[key]

    def result(self) -> dict[str, float]:
        wall = self.totals.get("wall", 0.0)
        total = self.totals.get("machine_total", 0.0)
        if not wall or not total:
            return {}
        out = {
            f"{name}_cores": round(value / wall, 2)
            for name, value in sorted(self.totals.items())
            if not name.startswith("machine") and name != "wall"
        }
        out["machine_busy_pct"] = round(100 * (1 - self.totals["machine_idle"] / total), 1)
        return out


# --- the plot ----------------------------------------------------------------------------------


def svg_bars(runs: list[tuple[str, dict]]) -> str:
    """Grouped bars on a log scale: p50 and p99 idle/loaded per run, its ratio in the legend."""
    groups = [
        ("p50 idle", "p50_idle_ms"),
        ("p50 loaded", "p50_loaded_ms"),
        ("p99 idle", "p99_idle_ms"),
        ("p99 loaded", "p99_loaded_ms"),
    ]
    colours = ["#9aa5b1", "#2f6fb0"]
    width, height, left, bottom, top = 640, 360, 70, 40, 40 + 16 * len(runs)
    plot_h = height - bottom - top
    peak = max(run[key] for _, run in runs for _, key in groups)
    decades = max(1, math.ceil(math.log10(max(peak, 10.0))))  # the axis runs 1 ms .. 10^decades

    def y_of(ms: float) -> float:
        return height - bottom - plot_h * math.log10(max(ms, 1.0)) / decades

    group_w = (width - left - 20) / len(groups)
    bar_w = min(48, (group_w - 20) / len(runs))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14">Tenant B '
        "DisableAgent/EnableAgent latency (log scale), idle and under tenant A's "
        "approval flood</text>",
    ]
    for decade in range(decades + 1):
        y = y_of(10.0**decade)
        label = f"{10**decade:,} ms"
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 20}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{label}</text>'
        )
    for g, (label, key) in enumerate(groups):
        x0 = left + g * group_w + (group_w - bar_w * len(runs)) / 2
        for r, (_name, run) in enumerate(runs):
            value = run[key]
            y = y_of(value)
            x = x0 + r * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 4:.1f}" '
                f'height="{height - bottom - y:.1f}" fill="{colours[r % len(colours)]}"/>'
            )
            parts.append(
                f'<text x="{x + (bar_w - 4) / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" '
                f'font-size="10">{value:,.1f}</text>'
            )
        parts.append(
            f'<text x="{left + g * group_w + group_w / 2:.1f}" y="{height - bottom + 18}" '
            f'text-anchor="middle">{label}</text>'
        )
    parts.append(
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 20}" y2="{height - bottom}" '
        'stroke="black"/>'
    )
    for r, (name, run) in enumerate(runs):
        y = 38 + r * 16
        parts.append(
            f'<rect x="{left}" y="{y - 9}" width="10" height="10" '
            f'fill="{colours[r % len(colours)]}"/>'
        )
        parts.append(
            f'<text x="{left + 16}" y="{y}">{name}: p99 loaded/idle '
            f"{run['ratio_p99_loaded_vs_idle']:.1f}, p50 loaded/idle "
            f"{run['ratio_p50_loaded_vs_idle']:.1f}, at "
            f"{run['achieved_approvals_per_s']:.0f} approvals/s</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


# --- the run -----------------------------------------------------------------------------------


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=300, help="per condition (idle, loaded)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=int, default=500, help="offered REQUIRE_APPROVALs/s")
    parser.add_argument(
        "--max-phase-seconds", type=float, default=60.0, help="bound on each loaded phase"
    )
    options = parser.parse_args()
    started, when = machine(), stamp()
    per_phase = max(1, options.trials // options.rounds)
    idle, loaded = Phase(), Phase()
    flood_seconds = 0.0
    approvals_made = 0.0
    other_outcomes: dict[str, float] = {}
    ghz_status: dict[str, int] = {}
    cpu_idle, cpu_loaded = CpuUse(), CpuUse()
    async with running_stack(verifiers=1) as stack:
        key_a, agent_a, tenant_b = setup(stack)
        check_requires_approval(stack, key_a, agent_a)
        settle(2)
        await tenant_b.run(10)  # warm the channel and the registry's code paths
        metrics_port = stack.verifiers[0].metrics_port
        pids = {"registry": stack.registry.process.pid, "verifier": stack.verifiers[0].process.pid}
        for number in range(1, options.rounds + 1):
            mark = cpu_sample(pids)
            idle += await tenant_b.run(per_phase)
            cpu_idle.add(mark, cpu_sample(pids))
            before = decisions_by_outcome(metrics_port)
            flood = start_flood(stack.verifiers[0].target, key_a, agent_a, options.rate)
            t0 = time.monotonic()
            await asyncio.sleep(LOAD_WARMUP_S)
            mark = cpu_sample({**pids, "ghz": flood.pid})
            phase = await tenant_b.run(per_phase, options.max_phase_seconds)
            cpu_loaded.add(mark, cpu_sample({**pids, "ghz": flood.pid}))
            loaded += phase
            ran = time.monotonic() - t0
            status = stop_flood(flood)
            for code, n in status.items():
                ghz_status[code] = ghz_status.get(code, 0) + n
            await asyncio.sleep(DRAIN_S)  # let the flood's last calls finish before counting
            after = decisions_by_outcome(metrics_port)
            made = approvals(after) - approvals(before)
            approvals_made += made
            flood_seconds += ran
            for k, v in after.items():
                if "REQUIRE_APPROVAL" not in k:
                    other_outcomes[k] = other_outcomes.get(k, 0.0) + v - before.get(k, 0.0)
            print(
                f"round {number}: flood ran {ran:.1f} s at {made / ran:.0f} approvals/s; "
                f"{len(phase.mutations)} loaded trials, p50 "
                f"{summary(phase.mutations)['p50']:.1f} ms, "
                f"p99 {summary(phase.mutations)['p99']:.1f} ms; GetAgent p99 "
                f"{summary(phase.reads)['p99']:.1f} ms",
                flush=True,
            )

    s_idle, s_loaded = summary(idle.mutations), summary(loaded.mutations)
    r_idle, r_loaded = summary(idle.reads), summary(loaded.reads)
    rate = approvals_made / flood_seconds if flood_seconds else 0.0
    result = {
        "benchmark": "approval_flood",
        "date": when,
        "machine": started,
        "commit": commit(),
        "offered_approvals_per_s": options.rate,
        "achieved_approvals_per_s": round(rate, 1),
        "trials_idle": s_idle["n"],
        "trials_loaded": s_loaded["n"],
        "failed_mutations": tenant_b.failures,
        "p50_idle_ms": round(s_idle["p50"], 2),
        "p99_idle_ms": round(s_idle["p99"], 2),
        "max_idle_ms": round(s_idle["max"], 2),
        "p50_loaded_ms": round(s_loaded["p50"], 2),
        "p99_loaded_ms": round(s_loaded["p99"], 2),
        "max_loaded_ms": round(s_loaded["max"], 2),
        "ratio_p50_loaded_vs_idle": round(s_loaded["p50"] / s_idle["p50"], 2),
        "ratio_p99_loaded_vs_idle": round(s_loaded["p99"] / s_idle["p99"], 2),
        "target_ratio_p99": TARGET_RATIO,
        "read_p50_idle_ms": round(r_idle["p50"], 2),
        "read_p99_idle_ms": round(r_idle["p99"], 2),
        "read_p50_loaded_ms": round(r_loaded["p50"], 2),
        "read_p99_loaded_ms": round(r_loaded["p99"], 2),
        "flood_other_outcomes": {k: int(v) for k, v in other_outcomes.items() if v},
        "flood_ghz_status": ghz_status,
        "cpu_idle": cpu_idle.result(),
        "cpu_loaded": cpu_loaded.result(),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "approval_flood.json").write_text(json.dumps(result, indent=2) + "\n")
    runs = [(f"this run ({result['commit']})", result)]
    baseline_path = OUT / "approval_flood.before.json"
    baseline = json.loads(baseline_path.read_text()) if baseline_path.exists() else None
    if baseline is not None and baseline.get("commit") != result["commit"]:
        runs.insert(0, (f"before ({baseline['commit']})", baseline))
    else:
        baseline = None
    (OUT / "approval_flood.svg").write_text(svg_bars(runs))
    write_doc_section("approval-flood", section(result, baseline, options, per_phase))


def section(result: dict, baseline: dict | None, options, per_phase: int) -> str:
    def row(label: str, r: dict) -> list[str]:
        read = f"{r['read_p99_loaded_ms']:.1f}" if "read_p99_loaded_ms" in r else "—"
        return [
            label,
            f"{r['trials_idle']} / {r['trials_loaded']}",
            f"{r['achieved_approvals_per_s']:.0f}",
            f"{r['p50_idle_ms']:.1f}",
            f"{r['p99_idle_ms']:.1f}",
            f"{r['p50_loaded_ms']:.1f}",
            f"{r['p99_loaded_ms']:.1f}",
            read,
            f"{r['ratio_p50_loaded_vs_idle']:.1f}",
            f"**{r['ratio_p99_loaded_vs_idle']:.1f}**",
        ]

    headers = [
        "run",
        "trials idle / loaded",
        "approvals/s",
        "idle p50 ms",
        "idle p99 ms",
        "loaded p50 ms",
        "loaded p99 ms",
        "GetAgent loaded p99 ms",
        "p50 loaded / idle",
        "p99 loaded / idle",
    ]
    rows = [row(f"this run, commit {result['commit']}", result)]
    if baseline is not None:
        rows.insert(0, row(f"before, commit {baseline['commit']} ({baseline['date']})", baseline))
    ratio = result["ratio_p99_loaded_vs_idle"]
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    others = ", ".join(f"{k} {v:,}" for k, v in result["flood_other_outcomes"].items()) or "none"
    statuses = ", ".join(f"{k} {v:,}" for k, v in result["flood_ghz_status"].items()) or "n/a"
    short = (
        f"; the machine did not reach the offered {options.rate}/s"
        if result["achieved_approvals_per_s"] < 0.9 * options.rate
        else ""
    )
    cpu = result.get("cpu_loaded") or {}
    cpu_idle = result.get("cpu_idle") or {}
    return f"""
## One tenant's approval flood versus another tenant's mutations

Run {result["date"]}. Machine: {result["machine"]}.

Tenant A's verify key drives open-loop Verifies (ghz `--async --rps {options.rate}`, a fresh
`request_id` each, so each one creates an approval) at an agent whose permission requires
approval. Tenant B's admin meanwhile calls `DisableAgent` / `EnableAgent` on its own four
agents, one call at a time, 20 ms apart, each followed by a `GetAgent` (a read: one pooled
query, no revision lock). {options.rounds} rounds of {per_phase} idle trials, then up to
{per_phase} trials under the flood (from {LOAD_WARMUP_S:g} s after it starts, at most
{options.max_phase_seconds:g} s per round).

- Approvals/s: the flood's REQUIRE_APPROVAL decisions (the verifier's counter) over the time
  ghz ran{short}. Other outcomes of the flood: {others}.
- ghz statuses: {statuses}. ResourceExhausted is the verifier's concurrency cap
  (`BEHALF_MAX_CONCURRENT_RPCS`) refusing calls beyond it; Unavailable/Canceled are calls in
  flight when ghz is stopped at the end of a phase.
- CPU during the loaded phases: registry {cpu.get("registry_cores", 0):.2f} cores, verifier
  {cpu.get("verifier_cores", 0):.2f}, ghz {cpu.get("ghz_cores", 0):.2f}; the whole machine
  {cpu.get("machine_busy_pct", 0):.0f}% busy ({cpu_idle.get("machine_busy_pct", 0):.0f}% during
  the idle phases, from other work on the machine).
- `GetAgent` p50 / p99: idle {result["read_p50_idle_ms"]:.1f} / {result["read_p99_idle_ms"]:.1f}
  ms, loaded {result["read_p50_loaded_ms"]:.1f} / {result["read_p99_loaded_ms"]:.1f} ms. Failed
  tenant-B calls: {result["failed_mutations"]}.

{table(headers, rows)}

![tenant B mutation latency, idle and under tenant A's approval flood](bench/approval_flood.svg)

**p99 of tenant B's mutations under tenant A's flood / idle: {ratio:.1f}** ({verdict} the
≤ {TARGET_RATIO:g} target). Figures: `docs/bench/approval_flood.json`.
"""


if __name__ == "__main__":
    asyncio.run(main())
