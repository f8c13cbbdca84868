"""End-to-end snapshot load: permissions in the registry's PostgreSQL -> WatchPolicy -> a verifier.

Helpers for bench/snapshot_bench.py: bulk-load a generated policy straight into the registry's
tables (COPY; the registry's grant path is measured separately, on the write side), start one
verifier (one worker) against the running registry, time until it answers a Verify with a real
decision, and read the processes' memory from /proc.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import grpc
from _common import metric_total, percentile  # (also puts the repository on sys.path)

from behalf.v1 import common_pb2, verifier_pb2, verifier_pb2_grpc
from tests.harness.infra import database_url
from tests.harness.processes import ServiceProcess, start_service
from tests.harness.stack import Stack, Tenant

PER_AGENT = 10
CATEGORY_ACTIONS = [
    ("data_access", "read_email"),
    ("data_access", "browse_web"),
    ("messaging", "send_email"),
    ("messaging", "post_slack"),
    ("scheduling", "create_event"),
    ("scheduling", "book_meeting"),
    ("transactions", "purchase"),
    ("transactions", "issue_refund"),
    ("content", "write_document"),
    ("admin_workflows", "update_crm_contact"),
]


def agent_id(n: int) -> str:
    return f"agt_{n:020d}"


def permission_id(n: int) -> str:
    return f"prm_{n:020d}"


def resource(agent: int, line: int) -> str:
    return f"shop{line}.vendor{agent}.example.com"


def tenant_id(first: str, agent: int, tenants: int) -> str:
    """Agent 0..n spread round-robin over `tenants` tenants; tenant 0 is the RPC-made one."""
    index = agent % tenants
    return first if index == 0 else f"ten_{index:020d}"


async def load_policy(stack: Stack, first: Tenant, permissions: int, tenants: int) -> int:
    """COPY `permissions` grants over permissions/10 agents into the registry; the revision."""
    agents = permissions // PER_AGENT
    expires = datetime.now(UTC) + timedelta(days=30)
    conn = await asyncpg.connect(
        database_url(stack.admin_url, stack.database), server_settings={"search_path": "registry"}
    )
    try:
        async with conn.transaction():
            revision = await conn.fetchval(
                "UPDATE policy_revision SET revision = revision + 1 RETURNING revision"
            )
            await conn.copy_records_to_table(
                "tenants",
                records=[(f"ten_{i:020d}", f"bench {i}") for i in range(1, tenants)],
                columns=["tenant_id", "name"],
            )
            await conn.copy_records_to_table(
                "agents",
                records=(
                    (
                        agent_id(a),
                        tenant_id(first.tenant_id, a, tenants),
                        f"a{a}",
                        "native",
                        revision,
                    )
                    for a in range(agents)
                ),
                columns=["agent_id", "tenant_id", "name", "kind", "revision"],
            )
            await conn.copy_records_to_table(
                "permissions",
                records=(
                    _permission_row(first, a, line, tenants, expires, revision)
                    for a in range(agents)
                    for line in range(PER_AGENT)
                ),
                columns=[
                    "permission_id",
                    "tenant_id",
                    "agent_id",
                    "allowed_actions",
                    "blocked_actions",
                    "resources",
                    "max_amount_minor",
                    "max_amount_currency",
                    "expires_at",
                    "category",
                    "revision",
                ],
            )
        # Vacuumed as a running registry's tables are: otherwise autovacuum (and the first
        # reader's hint bits) may take a core in the middle of the timed stream.
        await conn.execute("VACUUM ANALYZE agents")
        await conn.execute("VACUUM ANALYZE permissions")
    finally:
        await conn.close()
    return int(revision)


def _permission_row(
    first: Tenant, agent: int, line: int, tenants: int, expires: datetime, revision: int
) -> tuple:
    category, action = CATEGORY_ACTIONS[(agent + line) % PER_AGENT]
    name = resource(agent, line)
    pattern = "*." + name.split(".", 1)[1] if line % 3 == 0 else name
    money = category == "transactions"
    return (
        permission_id(agent * PER_AGENT + line),
        tenant_id(first.tenant_id, agent, tenants),
        agent_id(agent),
        [action],
        ["issue_refund"] if line == 9 else [],
        [pattern],
        50_000 if money else None,
        "USD" if money else None,
        expires,
        category,
        revision,
    )


def verify_request(agent: int, line: int) -> verifier_pb2.VerifyRequest:
    """A request the generated policy allows (agent in tenant 0 when agent % tenants == 0)."""
    category, action = CATEGORY_ACTIONS[(agent + line) % PER_AGENT]
    amount = (
        common_pb2.Money(amount_minor=2_500, currency="USD") if category == "transactions" else None
    )
    return verifier_pb2.VerifyRequest(
        agent_id=agent_id(agent), action=action, resource=resource(agent, line), amount=amount
    )


@dataclass
class Load:
    """One verifier's cold start against the loaded registry."""

    serving_s: float  # process start -> first Verify answered with a non-stale decision
    up_s: float  # process start -> first Verify answered at all (STALE_POLICY while loading)
    verifier: ServiceProcess
    reason: str


async def start_and_time(stack: Stack, first: Tenant, timeout_s: float = 600) -> Load:
    """Start a one-worker verifier; time until a Verify for tenant 0's agent 0 is decided."""
    started = time.perf_counter()
    verifier = start_service(
        "verifier",
        stack.env,
        stack.log_dir,
        BEHALF_REGISTRY_INTERNAL_TARGET=stack.registry.internal_target,
        BEHALF_VERIFIER_WORKERS="1",
    )
    request = verify_request(0, 1)
    up_s = 0.0
    async with grpc.aio.insecure_channel(verifier.target) as channel:
        stub = verifier_pb2_grpc.VerifierServiceStub(channel)
        while time.perf_counter() - started < timeout_s:
            try:
                reply = await stub.Verify(request, metadata=first.verify, timeout=2)
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.05)
                continue
            elapsed = time.perf_counter() - started
            up_s = up_s or elapsed
            if reply.decision.reason_code != common_pb2.REASON_CODE_STALE_POLICY:
                name = common_pb2.ReasonCode.Name(reply.decision.reason_code)
                return Load(elapsed, up_s, verifier, name)
            await asyncio.sleep(0.05)
    raise TimeoutError("the verifier did not serve within the timeout")


def tree_pids(pid: int) -> list[int]:
    """`pid` and its descendants."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            pids.extend(tree_pids(int(child)))
    return pids


def status_kib(pid: int, field: str) -> int:
    """A `VmRSS`/`VmHWM` line of /proc/<pid>/status, in KiB (0 if the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except FileNotFoundError:
        return 0
    return 0


def largest(pid: int, field: str) -> int:
    """The largest `field` (KiB) among the process and its descendants: the decision worker."""
    return max(status_kib(p, field) for p in tree_pids(pid))


async def reset_policy(stack: Stack) -> None:
    """Remove the previous size's agents, permissions and bench tenants."""
    conn = await asyncpg.connect(
        database_url(stack.admin_url, stack.database), server_settings={"search_path": "registry"}
    )
    try:
        await conn.execute("DELETE FROM permissions")
        await conn.execute("DELETE FROM agents")
        await conn.execute("DELETE FROM tenants WHERE name LIKE 'bench %'")
        await conn.execute("VACUUM ANALYZE permissions")
    finally:
        await conn.close()


class RssSampler:
    """The largest VmRSS (KiB) of one process, sampled every 20 ms until stopped."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, status_kib(self.pid, "VmRSS"))
            await asyncio.sleep(0.02)

    async def stop(self) -> int:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        return self.peak


async def rebuild_under_load(
    stack: Stack,
    first: Tenant,
    verifier: ServiceProcess,
    agents: int,
    tenants: int,
    workers: int = 4,
) -> dict:
    """Restart the registry (at a new revision) while Verify runs; latency before and during."""
    samples: list[tuple[float, float, int]] = []  # (monotonic end, latency ms, reason code)
    stop = asyncio.Event()

    async def caller(n: int) -> None:
        async with grpc.aio.insecure_channel(verifier.target) as channel:
            stub = verifier_pb2_grpc.VerifierServiceStub(channel)
            i = n
            while not stop.is_set():
                request = verify_request(i % max(1, agents // tenants) * tenants, 1)
                begin = time.perf_counter()
                try:
                    reply = await stub.Verify(request, metadata=first.verify, timeout=5)
                    code = reply.decision.reason_code
                except grpc.aio.AioRpcError:
                    code = -1
                end = time.perf_counter()
                samples.append((end, (end - begin) * 1000, code))
                i += workers
                await asyncio.sleep(0.005)

    callers = [asyncio.create_task(caller(n)) for n in range(workers)]
    await asyncio.sleep(3)
    commits_before = await asyncio.to_thread(_commit_buckets, verifier.metrics_port)
    conn = await asyncpg.connect(
        database_url(stack.admin_url, stack.database), server_settings={"search_path": "registry"}
    )
    try:
        revision = await conn.fetchval(
            "UPDATE policy_revision SET revision = revision + 1 RETURNING revision"
        )
    finally:
        await conn.close()
    old = stack.registry
    begin = time.perf_counter()
    old.process.kill()
    old.process.wait()
    stack.registry = start_service(
        "registry",
        stack.env,
        stack.log_dir,
        BEHALF_GRPC_PORT=str(old.grpc_port),
        BEHALF_METRICS_PORT=str(old.metrics_port),
        BEHALF_INTERNAL_PORT=str(old.internal_port),
    )
    hwm_before = largest(verifier.process.pid, "VmHWM")
    while await asyncio.to_thread(metric_total, verifier.metrics_port, REVISION) < revision:
        await asyncio.sleep(0.05)
        if time.perf_counter() - begin > 300:
            raise TimeoutError("the verifier did not load the new snapshot")
    done = time.perf_counter()
    commits = await asyncio.to_thread(_commit_buckets, verifier.metrics_port)
    await asyncio.sleep(2)
    stop.set()
    await asyncio.gather(*callers)
    before = [s for s in samples if s[0] < begin]
    during = [s for s in samples if begin <= s[0] <= done]
    allowed = common_pb2.REASON_CODE_ALLOWED
    return {
        "rebuild_s": done - begin,
        "verify_before": _latency(before),
        "verify_during": _latency(during),
        "answers_during": len(during),
        "not_allowed_during": sum(1 for s in during if s[2] != allowed),
        "verifier_hwm_before_mib": hwm_before / 1024,
        "verifier_hwm_after_mib": largest(verifier.process.pid, "VmHWM") / 1024,
        "verifier_rss_after_mib": largest(verifier.process.pid, "VmRSS") / 1024,
        # Kafka audit transactions committed from the restart to the swap, and how many took
        # longer than 100 ms (Verify answers only once its decision's transaction commits).
        "audit_commits_during": _over(commits, commits_before, "+Inf"),
        "audit_commits_over_100ms_during": _over(commits, commits_before, "+Inf")
        - _over(commits, commits_before, "0.1"),
    }


REVISION = "behalf_verifier_snapshot_revision"
COMMIT_BUCKET = "behalf_verifier_audit_commit_seconds_bucket"


def _over(after: dict[str, float], before: dict[str, float], bound: str) -> float:
    return after.get(bound, 0.0) - before.get(bound, 0.0)


def _commit_buckets(metrics_port: int) -> dict[str, float]:
    """The verifier's audit-commit histogram: cumulative count per `le` bound."""
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(COMMIT_BUCKET):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            out[bound] = out.get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def _latency(samples: list[tuple[float, float, int]]) -> dict[str, float]:
    values = [s[1] for s in samples]
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_ms": percentile(values, 50),
        "p99_ms": percentile(values, 99),
        "max_ms": max(values),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of the process and its descendants so far."""
    total = 0
    for p in tree_pids(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")
