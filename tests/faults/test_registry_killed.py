"""Registry SIGKILLed mid-load: verifiers serve their snapshot, then fail closed, then resume."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from behalf.v1 import common_pb2, registry_pb2
from tests.faults.load import (
    VerifyLoad,
    agent_with_grant,
    aio_registry,
    aio_verifier,
    code_name,
    purchase,
    tally,
    wait_until,
)
from tests.harness.infra import KafkaServer, PostgresServer
from tests.harness.processes import start_service
from tests.harness.stack import start_stack, stop_stack

STALENESS_BOUND_SECONDS = 3.0
HEARTBEAT_SECONDS = 1.0  # the registry's watch heartbeat
VERIFIERS = 2
DOWN_SECONDS = STALENESS_BOUND_SECONDS + 3.0
RECOVERY_BOUND_SECONDS = 15.0
DISABLE_BOUND_SECONDS = 5.0


async def test_verifiers_survive_a_registry_crash(
    shared_postgres: PostgresServer, shared_kafka: KafkaServer, tmp_path: Path
) -> None:
    """Allows continue for the staleness bound, then every reply is DENY STALE_POLICY until the
    registry is back; then allows resume, and a disable issued at once is honoured."""
    stack = await start_stack(
        shared_postgres.url,
        shared_kafka.bootstrap,
        tmp_path,
        verifiers=VERIFIERS,
        overrides=[("BEHALF_STALENESS_BOUND_SECONDS", str(STALENESS_BOUND_SECONDS))],
    )
    try:
        tenant = stack.create_tenant()
        registry = aio_registry(stack.registry.target)
        steady, _ = await agent_with_grant(registry, tenant, "steady")
        doomed, grant = await agent_with_grant(registry, tenant, "doomed")
        verifiers = [aio_verifier(v.target) for v in stack.verifiers]
        load = VerifyLoad()
        for i, verifier in enumerate(verifiers):
            for agent, name in ((steady, "steady"), (doomed, "doomed")):
                load.add_worker(
                    f"{name}@v{i}",
                    verifier,
                    tenant.verify,
                    lambda agent=agent: purchase(agent, 100, grant.revision),
                )
        started = time.monotonic()
        await asyncio.sleep(3)

        old = stack.registry
        killing = time.monotonic()
        old.kill()
        await asyncio.sleep(DOWN_SECONDS)
        restarting = time.monotonic()
        stack.registry = start_service(
            "registry",
            stack.env,
            stack.log_dir,
            BEHALF_GRPC_PORT=str(old.grpc_port),
            BEHALF_INTERNAL_PORT=str(old.internal_port),
            BEHALF_METRICS_PORT=str(old.metrics_port),
        )
        await asyncio.to_thread(stack.registry.wait_serving)
        serving = time.monotonic()

        # A disable issued right after the registry is back is honoured.
        registry = aio_registry(stack.registry.target)
        disabled = await registry.DisableAgent(
            registry_pb2.DisableAgentRequest(agent_id=doomed), metadata=tenant.admin, timeout=10
        )
        disable_returned = time.monotonic()
        pinned: list[str] = []
        for verifier in verifiers:
            while True:
                decision = (
                    await verifier.Verify(
                        purchase(doomed, 100, disabled.revision), metadata=tenant.verify, timeout=10
                    )
                ).decision
                pinned.append(code_name(decision.reason_code))
                assert decision.outcome == common_pb2.OUTCOME_DENY, pinned
                if decision.reason_code == common_pb2.REASON_CODE_AGENT_DISABLED:
                    break
                assert decision.reason_code == common_pb2.REASON_CODE_STALE_POLICY, pinned
                assert time.monotonic() - disable_returned < DISABLE_BOUND_SECONDS, pinned
        honoured_pinned = time.monotonic()

        recovered = await wait_until(
            lambda: all(
                any(r.allowed for r in load.since(serving, f"steady@v{i}"))
                for i in range(VERIFIERS)
            ),
            RECOVERY_BOUND_SECONDS,
            "every verifier to allow again",
        )
        await asyncio.sleep(2)
        replies = await load.finish()
        ended = time.monotonic()

        for process in stack.verifiers:
            assert process.process.poll() is None, f"{process.name} died"
        errors = [r for r in replies if r.error is not None]
        assert not errors, tally(errors)
        assert all(r.allowed for r in replies if r.received < killing), tally(
            r for r in replies if r.received < killing
        )
        # Serving from the snapshot: last heard from the registry at most one heartbeat before
        # the kill, so replies well inside the bound are still allows.
        serving_window = killing + STALENESS_BOUND_SECONDS - HEARTBEAT_SECONDS - 0.3
        from_snapshot = [r for r in replies if killing <= r.sent and r.received < serving_window]
        assert from_snapshot and all(r.allowed for r in from_snapshot), tally(from_snapshot)
        # Past the bound (and until the registry is back) everything fails closed.
        stale = [
            r
            for r in replies
            if r.sent >= killing + STALENESS_BOUND_SECONDS and r.received < restarting
        ]
        assert stale and all(
            r.reason_code == common_pb2.REASON_CODE_STALE_POLICY and not r.allowed for r in stale
        ), tally(stale)
        last_allow = max(r.received for r in replies if r.allowed and r.received < restarting)
        # The doomed agent is never allowed once the disable has returned and propagated.
        after_disable = [
            r
            for r in replies
            if r.label.startswith("doomed") and r.sent >= disable_returned + DISABLE_BOUND_SECONDS
        ]
        assert all(r.reason_code == common_pb2.REASON_CODE_AGENT_DISABLED for r in after_disable), (
            tally(after_disable)
        )
        doomed_allows_after = [
            r.received - disable_returned
            for r in replies
            if r.label.startswith("doomed") and r.allowed and r.sent >= disable_returned
        ]
        assert all(
            r.allowed for r in replies if r.label.startswith("steady") and r.sent >= recovered
        )
        print(
            f"\nregistry-killed: {len(replies)} replies in {ended - started:.1f}s from"
            f" {VERIFIERS} verifiers: {tally(replies)}; last allow from the snapshot"
            f" {last_allow - killing:.2f}s after the kill (bound {STALENESS_BOUND_SECONDS}s);"
            f" {len(stale)} replies past the bound all STALE_POLICY; registry SERVING"
            f" {serving - restarting:.1f}s after restart; every verifier allowing again"
            f" {recovered - serving:.2f}s later; disable honoured with min_revision after"
            f" {honoured_pinned - disable_returned:.2f}s ({pinned}); doomed allows sent after the"
            f" disable returned: {len(doomed_allows_after)}"
        )
    finally:
        await stop_stack(stack)
