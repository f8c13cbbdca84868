"""Shared pieces of the benchmarks: the machine, a real stack, a seeded tenant, ghz, Markdown.

Every benchmark writes its own section of docs/benchmarks.md between
`<!-- bench:NAME -->` and `<!-- /bench:NAME -->`, replacing what the previous run wrote there.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from google.protobuf import duration_pb2  # noqa: E402

from behalf.v1 import common_pb2, registry_pb2, resources_pb2  # noqa: E402
from tests.harness.infra import default_base_dir, start_kafka, start_postgres  # noqa: E402
from tests.harness.stack import Stack, Tenant, start_stack, stop_stack  # noqa: E402

GHZ = str(REPO / ".bin" / "ghz")
DOC = REPO / "docs" / "benchmarks.md"
VERIFY_CALL = "behalf.v1.VerifierService.Verify"
QUIET = ("BEHALF_LOG_LEVEL", "WARNING")


# --- the machine -------------------------------------------------------------------------------


def machine() -> str:
    """CPU model, cores, RAM, kernel, Python, and the load average when the run started."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} vCPUs ({cpu}, KVM guest), {mem:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}; "
        f"load average at start {load}"
    )


def stamp() -> str:
    return f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"


# --- a real stack ------------------------------------------------------------------------------


@asynccontextmanager
async def running_stack(
    *,
    verifiers: int = 1,
    dispatcher: bool = False,
    overrides: Sequence[tuple[str, str]] = (),
    broker_full_jit: bool = False,
) -> AsyncIterator[Stack]:
    """Real PostgreSQL and Kafka (or the ones named in the environment), then a Behalf stack.
    ``broker_full_jit``: a local broker compiles with C2, as in production; warm it up before
    timing anything that goes through it."""
    base = default_base_dir()
    postgres = start_postgres(base)
    kafka = stack = None
    try:
        kafka = start_kafka(base, full_jit=broker_full_jit)
        stack = await start_stack(
            postgres.url,
            kafka.bootstrap,
            base / "logs",
            verifiers=verifiers,
            dispatcher=dispatcher,
            overrides=[QUIET, *overrides],
        )
        yield stack
    finally:
        if stack is not None:
            await stop_stack(stack)
        if kafka is not None:
            kafka.stop()
        postgres.stop()
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class Seeded:
    """A tenant with one agent allowed to purchase on coachella.com up to 800.00 USD."""

    tenant: Tenant
    agent_id: str
    revision: int

    def verify_json(self, *, min_revision: bool = True) -> dict:
        """The Verify request ghz sends (an ALLOW), as JSON."""
        data = {
            "agent_id": self.agent_id,
            "action": "purchase",
            "resource": "coachella.com",
            "amount": {"amount_minor": 79999, "currency": "USD"},
        }
        if min_revision:
            data["min_revision"] = self.revision
        return data


def seed(stack: Stack, name: str = "bench") -> Seeded:
    """Create a tenant, an agent and one purchase permission through the registry."""
    tenant = stack.create_tenant(name)
    registry = stack.registry_stub()
    agent = registry.CreateAgent(
        registry_pb2.CreateAgentRequest(name=name, kind=resources_pb2.AGENT_KIND_NATIVE),
        metadata=tenant.admin,
        timeout=10,
    ).agent
    grant = registry.GrantPermission(
        registry_pb2.GrantPermissionRequest(
            agent_id=agent.agent_id,
            allowed_actions=["purchase"],
            resources=["coachella.com"],
            max_amount=common_pb2.Money(amount_minor=80000, currency="USD"),
            expires_in=duration_pb2.Duration(seconds=3600),
        ),
        metadata=tenant.admin,
        timeout=10,
    )
    return Seeded(tenant, agent.agent_id, grant.revision)


def metric_total(metrics_port: int, name: str) -> float:
    """Sum of every sample of one Prometheus metric of a service."""
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


# --- ghz ---------------------------------------------------------------------------------------


@dataclass
class Run:
    """One ghz run, latencies over the successful calls only."""

    label: str
    rps: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    errors: int
    closing: int  # calls cut off by ghz closing its connections at the end of the run
    total: int


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of unsorted values; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def ghz_verify_args(data: dict, key: str) -> list[str]:
    """The ghz command line up to its load options: Verify with this body and this key."""
    return [
        GHZ,
        "--insecure",
        "--proto",
        str(REPO / "protos/behalf/v1/verifier.proto"),
        "--import-paths",
        str(REPO / "protos"),
        "--call",
        VERIFY_CALL,
        "-d",
        json.dumps(data),
        "-m",
        json.dumps({"authorization": f"Bearer {key}"}),
    ]


def ghz(
    targets: str | Sequence[str],
    label: str,
    data: dict | None = None,
    key: str | None = None,
    *,
    duration: float,
    concurrency: int,
    connections: int = 4,
    rate: int = 0,
    call: Sequence[str] | None = None,
) -> Run:
    """Drive Verify with this body and key (or `call`, a ghz command line up to its load
    options, e.g. `_opa_peer.ghz_check_args`); several targets run as simultaneous ghz
    processes, combined."""
    targets = [targets] if isinstance(targets, str) else list(targets)
    if call is None:
        assert data is not None and key is not None, "Verify needs a body and a key"
        call = ghz_verify_args(data, key)
    args = [
        *call,
        "-c",
        str(max(1, concurrency // len(targets))),
        "-z",
        f"{duration}s",
        "--connections",
        str(max(1, connections // len(targets))),
        "--format",
        "json",
    ]
    if rate:
        args += ["--rps", str(max(1, rate // len(targets)))]
    procs = [
        subprocess.Popen([*args, t], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for t in targets
    ]
    ok: list[float] = []
    errors = closing = total = 0
    elapsed = 0.0
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"ghz failed: {err.strip()[-500:]}")
        report = json.loads(out)
        elapsed = max(elapsed, report["total"] / 1e9)
        for call in report.get("details") or []:
            total += 1
            if call["status"] == "OK" and not call["error"]:
                ok.append(call["latency"] / 1e6)
            elif "closing" in call["error"] or call["status"] == "Canceled":
                closing += 1
            else:
                errors += 1
    return Run(
        label,
        len(ok) / elapsed if elapsed else 0.0,
        percentile(ok, 50),
        percentile(ok, 99),
        percentile(ok, 99.9),
        errors,
        closing,
        total,
    )


def run_table(runs: Sequence[Run]) -> str:
    return table(
        ["run", "OK calls/s", "p50 ms", "p99 ms", "p99.9 ms", "errors", "cut at end"],
        [
            [
                r.label,
                f"{r.rps:,.0f}",
                f"{r.p50_ms:.2f}",
                f"{r.p99_ms:.2f}",
                f"{r.p999_ms:.2f}",
                f"{r.errors}/{r.total}",
                str(r.closing),
            ]
            for r in runs
        ],
    )


def median_run(label: str, runs: Sequence[Run]) -> Run:
    """The run of median throughput, relabelled (for repeated, interleaved runs)."""
    chosen = sorted(runs, key=lambda r: r.rps)[len(runs) // 2]
    return Run(
        label,
        chosen.rps,
        chosen.p50_ms,
        chosen.p99_ms,
        chosen.p999_ms,
        sum(r.errors for r in runs),
        sum(r.closing for r in runs),
        sum(r.total for r in runs),
    )


# --- Markdown ----------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(name: str, body: str, out: Path = DOC) -> None:
    """Replace this benchmark's section of the report (or add it at the end)."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = out.read_text() if out.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(body)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def summary(values_s: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max (and mean) in milliseconds of durations given in seconds."""
    values = [v * 1000 for v in values_s]
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values) if values else 0.0,
        "mean": statistics.fmean(values) if values else 0.0,
    }


def settle(seconds: float = 1.0) -> None:
    """Let the stack finish its start-up work before measuring."""
    time.sleep(seconds)


def _cpu_times() -> tuple[int, int]:
    """(idle, total) jiffies over every CPU since boot."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[3] + fields[4], sum(fields)


def quiesce(idle_share: float = 0.8, timeout_seconds: float = 60.0) -> float:
    """Wait until the machine is mostly idle (over half a second), so a measurement does not
    share the cores with what the previous one left behind (consumers catching up on its
    decisions, say); how long it waited. Gives up after `timeout_seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_seconds:
        idle0, total0 = _cpu_times()
        time.sleep(0.5)
        idle1, total1 = _cpu_times()
        if total1 > total0 and (idle1 - idle0) / (total1 - total0) >= idle_share:
            break
    return time.monotonic() - started
