"""One verifier pod, several worker processes on one port (BEHALF_VERIFIER_WORKERS).

Real registry, PostgreSQL and Kafka. Each worker is a whole verifier (its own policy stream and
audit producers) that joins the shared port once ready; the supervisor serves the pod's
metrics summed over the workers, passes SIGTERM on, and takes no worker with it when killed.
"""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from behalf.v1 import common_pb2, verifier_pb2, verifier_pb2_grpc
from tests.harness.processes import ServiceProcess
from tests.harness.stack import Stack, start_stack, stop_stack

pytestmark = pytest.mark.integration

WORKERS = 2


@pytest.fixture(scope="module")
async def stack(database_url: str, kafka_bootstrap: str, tmp_path_factory) -> AsyncIterator[Stack]:
    stack = await start_stack(
        database_url, kafka_bootstrap, tmp_path_factory.mktemp("workers"), verifiers=0
    )
    yield stack
    await stop_stack(stack)


def _children(pid: int) -> set[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(p) for p in path.read_text().split()} if path.exists() else set()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def _decisions_total(metrics_port: int) -> float:
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("behalf_verifier_decisions_total{")
    )


def _verify_on_new_connection(stack: Stack, verifier: ServiceProcess, **request: object) -> str:
    """One Verify over a fresh connection (the kernel picks a worker per connection)."""
    key = request.pop("key")
    with grpc.insecure_channel(verifier.target) as channel:
        decision = (
            verifier_pb2_grpc.VerifierServiceStub(channel)
            .Verify(verifier_pb2.VerifyRequest(**request), metadata=key, timeout=10)
            .decision
        )
    assert decision.outcome == common_pb2.OUTCOME_ALLOW, decision.reason
    return decision.verifier_id


def test_workers_share_the_port_and_the_pod_reports_their_sum(stack: Stack) -> None:
    tenant = stack.create_tenant("workers")
    agent_id, grant = stack.agent_with_grant(tenant)
    verifier = stack.start_verifier(BEHALF_VERIFIER_WORKERS=str(WORKERS))
    workers = _children(verifier.process.pid)
    assert len(workers) == WORKERS

    request = dict(
        key=tenant.verify,
        agent_id=agent_id,
        action="purchase",
        resource="coachella.com",
        amount=common_pb2.Money(amount_minor=100, currency="USD"),
        min_revision=grant.revision,
    )
    seen: set[str] = set()
    calls = 0
    deadline = time.monotonic() + 60
    while len(seen) < WORKERS and time.monotonic() < deadline:
        seen.add(_verify_on_new_connection(stack, verifier, **request))
        calls += 1
    assert len(seen) == WORKERS, f"only {seen} answered in {calls} connections"
    assert {vid.rsplit("-", 1)[1] for vid in seen} == {f"w{i}" for i in range(WORKERS)}

    # One scrape target per pod: every worker's decisions, summed by the supervisor.
    assert _decisions_total(verifier.metrics_port) == calls

    # SIGTERM reaches every worker, which drains; the supervisor exits 0 after them.
    assert verifier.terminate() == 0
    assert not any(_alive(pid) for pid in workers)
    stack.verifiers.remove(verifier)


def _metrics_dir(worker_pid: int) -> Path:
    environ = Path(f"/proc/{worker_pid}/environ").read_bytes().split(b"\0")
    (value,) = [v for v in environ if v.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    return Path(value.split(b"=", 1)[1].decode())


def test_a_killed_supervisor_takes_its_workers_with_it(stack: Stack) -> None:
    """...and the next supervisor to start removes the metrics directory it could not."""
    verifier = stack.start_verifier(BEHALF_VERIFIER_WORKERS=str(WORKERS))
    workers = _children(verifier.process.pid)
    assert len(workers) == WORKERS
    metrics_dir = _metrics_dir(next(iter(workers)))
    assert metrics_dir.is_dir()
    verifier.process.send_signal(signal.SIGKILL)
    verifier.process.wait(timeout=10)
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers), "a worker outlived its supervisor"
    stack.verifiers.remove(verifier)

    successor = stack.start_verifier(BEHALF_VERIFIER_WORKERS=str(WORKERS))
    assert not metrics_dir.exists(), "the killed supervisor's metrics directory was left behind"
    assert successor.terminate() == 0
    stack.verifiers.remove(successor)


def test_a_worker_that_dies_takes_the_pod_down(stack: Stack) -> None:
    """Never run short-handed: the supervisor stops the rest and exits non-zero, so the
    orchestrator restarts the pod."""
    verifier = stack.start_verifier(BEHALF_VERIFIER_WORKERS=str(WORKERS))
    workers = sorted(_children(verifier.process.pid))
    os.kill(workers[0], signal.SIGKILL)
    assert verifier.process.wait(timeout=30) != 0
    deadline = time.monotonic() + 30
    while _alive(workers[1]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(workers[1])
    stack.verifiers.remove(verifier)
