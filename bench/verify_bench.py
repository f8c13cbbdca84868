"""Verify throughput and latency against a bare grpc.aio no-op server, same load generator.

    python bench/verify_bench.py [--duration 10] [--concurrency 50] [--out docs/benchmarks.md]

Starts real PostgreSQL and Kafka (the test harness's scripts), the registry and one verifier
with audit on, seeds a tenant whose agent may purchase on coachella.com, then drives both the
no-op server and the verifier with ghz: first at full speed (peak), then at fixed rates of
25%, 50% and 75% of the verifier's peak. Prints a Markdown report and appends it to --out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from google.protobuf import duration_pb2  # noqa: E402

from behalf.v1 import common_pb2, registry_pb2, resources_pb2  # noqa: E402
from tests.harness.infra import default_base_dir, free_port, start_kafka, start_postgres  # noqa: E402
from tests.harness.stack import start_stack, stop_stack  # noqa: E402

GHZ = str(REPO / ".bin" / "ghz")
CALL = "behalf.v1.VerifierService.Verify"


@dataclass
class Run:
    label: str
    rps: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    errors: int
    total: int


def ghz(
    target: str, label: str, data: dict, key: str, *, duration: int, concurrency: int, rate: int = 0
) -> Run:
    args = [
        GHZ,
        "--insecure",
        "--proto",
        str(REPO / "protos/behalf/v1/verifier.proto"),
        "--import-paths",
        str(REPO / "protos"),
        "--call",
        CALL,
        "-d",
        json.dumps(data),
        "-m",
        json.dumps({"authorization": f"Bearer {key}"}),
        "-c",
        str(concurrency),
        "-z",
        f"{duration}s",
        "--connections",
        "4",
        "--format",
        "json",
        target,
    ]
    if rate:
        args[1:1] = ["--rps", str(rate)]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    report = json.loads(out)
    latencies = {
        d["percentage"]: d["latency"] / 1e6 for d in report.get("latencyDistribution") or []
    }
    errors = (
        sum(report.get("errorDistribution", {}).values()) if report.get("errorDistribution") else 0
    )
    return Run(
        label,
        report["rps"],
        latencies.get(50, 0),
        latencies.get(99, 0),
        latencies.get(99.9, latencies.get(99, 0)),
        errors,
        report["count"],
    )


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    system = f"{platform.system()} {platform.release()}"
    python = platform.python_version()
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {system}, Python {python}"


async def seed(stack) -> tuple[str, dict]:
    tenant = stack.create_tenant("bench")
    registry = stack.registry_stub()
    agent = registry.CreateAgent(
        registry_pb2.CreateAgentRequest(name="bench", kind=resources_pb2.AGENT_KIND_NATIVE),
        metadata=tenant.admin,
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
    )
    data = {
        "agent_id": agent.agent_id,
        "action": "purchase",
        "resource": "coachella.com",
        "amount": {"amount_minor": 79999, "currency": "USD"},
        "min_revision": grant.revision,
    }
    return tenant.verify_key, data


def table(runs: list[Run]) -> str:
    lines = ["| run | req/s | p50 ms | p99 ms | p99.9 ms | errors |", "|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(
            f"| {r.label} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
            f"{r.p999_ms:.2f} | {r.errors}/{r.total} |"
        )
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--out", default=str(REPO / "docs" / "benchmarks.md"))
    options = parser.parse_args()
    if not Path(GHZ).exists():
        sys.exit("ghz missing: run `make tools`")

    base = default_base_dir()
    postgres, kafka = start_postgres(base), start_kafka(base)
    noop_port = free_port()
    noop = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "noop_server.py"), str(noop_port)]
    )
    stack = await start_stack(
        postgres.url, kafka.bootstrap, base / "logs", overrides=[("BEHALF_LOG_LEVEL", "WARNING")]
    )
    try:
        key, data = await seed(stack)
        time.sleep(1)
        kw = {"duration": options.duration, "concurrency": options.concurrency}
        warm = ghz(stack.verifiers[0].target, "warm-up", data, key, duration=3, concurrency=10)
        del warm
        bare = ghz(f"127.0.0.1:{noop_port}", "bare grpc.aio no-op, peak", data, key, **kw)
        peak = ghz(stack.verifiers[0].target, "verifier (audit on), peak", data, key, **kw)
        fixed = [
            ghz(
                stack.verifiers[0].target,
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
        await stop_stack(stack)
        kafka.stop()
        postgres.stop()
        shutil.rmtree(base, ignore_errors=True)

    ratio = peak.rps / bare.rps if bare.rps else 0
    report = f"""
## Verify throughput — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC

Machine: {machine()}. Load generator: ghz, {options.concurrency} concurrent, 4 connections,
{options.duration} s per run, same process for both servers, all on one machine.

{table([bare, peak, *fixed])}

**Verifier / bare throughput ratio: {ratio:.2f}** (target ≥ 0.70). p99 at 50% of peak:
{fixed[1].p99_ms:.2f} ms (target < 10 ms).
"""
    print(report)
    with open(options.out, "a") as out:
        out.write(report)


if __name__ == "__main__":
    asyncio.run(main())
