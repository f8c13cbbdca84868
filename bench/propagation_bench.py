"""Revocation propagation: DisableAgent returns → every one of three verifiers denies.

    python bench/propagation_bench.py [--trials 300] [--verifiers 3] [--pollers 2]

Starts real PostgreSQL and Kafka, the registry and three verifiers. Each trial alternately
disables and re-enables the seeded agent through the registry; as soon as the call returns,
`--pollers` concurrent Verify loops per verifier (grpc.aio, no min_revision) ask until that
verifier answers AGENT_DISABLED (or ALLOW after an enable). The trial's time is the slowest
verifier's. Two clocks: when the first reflecting reply arrived (includes that reply's own
audit publish), and the reply's `decide_time` (when the verifier decided, on the same host
clock). Writes the `propagation` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import grpc
from _common import machine, running_stack, seed, settle, stamp, summary, table, write_section

from behalf.v1 import common_pb2, registry_pb2, registry_pb2_grpc, verifier_pb2, verifier_pb2_grpc

TRIAL_TIMEOUT_S = 5.0


async def first_reflecting(
    stub: verifier_pb2_grpc.VerifierServiceStub,
    request: verifier_pb2.VerifyRequest,
    metadata,
    disabled: bool,
    pollers: int,
) -> tuple[float, float]:
    """(monotonic time the first reflecting reply arrived, its decide_time as epoch seconds)."""
    found: asyncio.Future[tuple[float, float]] = asyncio.get_running_loop().create_future()

    async def poll() -> None:
        while not found.done():
            reply = await stub.Verify(request, metadata=metadata, timeout=2)
            decision = reply.decision
            seen = (
                decision.reason_code == common_pb2.REASON_CODE_AGENT_DISABLED
                if disabled
                else decision.outcome == common_pb2.OUTCOME_ALLOW
            )
            if seen and not found.done():
                found.set_result((time.monotonic(), decision.decide_time.ToNanoseconds() / 1e9))

    tasks = [asyncio.create_task(poll()) for _ in range(pollers)]
    try:
        return await asyncio.wait_for(asyncio.shield(found), TRIAL_TIMEOUT_S)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--verifiers", type=int, default=3)
    parser.add_argument("--pollers", type=int, default=2)
    options = parser.parse_args()
    started = machine()
    reply_lat: dict[str, list[float]] = {"disable": [], "enable": []}
    decide_lat: dict[str, list[float]] = {"disable": [], "enable": []}
    per_verifier: list[list[float]] = [[] for _ in range(options.verifiers)]
    mutation_lat: list[float] = []
    timeouts = 0
    async with running_stack(verifiers=options.verifiers) as stack:
        seeded = seed(stack)
        settle(2)
        admin, verify_md = seeded.tenant.admin, seeded.tenant.verify
        registry_channel = grpc.aio.insecure_channel(stack.registry.target)
        registry = registry_pb2_grpc.RegistryServiceStub(registry_channel)
        channels = [grpc.aio.insecure_channel(v.target) for v in stack.verifiers]
        stubs = [verifier_pb2_grpc.VerifierServiceStub(c) for c in channels]
        request = verifier_pb2.VerifyRequest(
            agent_id=seeded.agent_id,
            action="purchase",
            resource="coachella.com",
            amount=common_pb2.Money(amount_minor=100, currency="USD"),
        )
        for stub in stubs:  # warm the channels and the verifiers
            for _ in range(20):
                await stub.Verify(request, metadata=verify_md, timeout=5)
        for trial in range(options.trials):
            disabled = trial % 2 == 0
            kind = "disable" if disabled else "enable"
            t_call = time.monotonic()
            if disabled:
                await registry.DisableAgent(
                    registry_pb2.DisableAgentRequest(agent_id=seeded.agent_id),
                    metadata=admin,
                    timeout=10,
                )
            else:
                await registry.EnableAgent(
                    registry_pb2.EnableAgentRequest(agent_id=seeded.agent_id),
                    metadata=admin,
                    timeout=10,
                )
            t0, wall0 = time.monotonic(), time.time()
            mutation_lat.append(t0 - t_call)
            try:
                results = await asyncio.gather(
                    *(
                        first_reflecting(s, request, verify_md, disabled, options.pollers)
                        for s in stubs
                    )
                )
            except TimeoutError:
                timeouts += 1
                continue
            for index, (arrived, _decided) in enumerate(results):
                per_verifier[index].append(arrived - t0)
            reply_lat[kind].append(max(arrived for arrived, _ in results) - t0)
            decide_lat[kind].append(max(0.0, max(decided for _, decided in results) - wall0))
            await asyncio.sleep(0.02)
        for channel in [registry_channel, *channels]:
            await channel.close()

    both_reply = reply_lat["disable"] + reply_lat["enable"]
    both_decide = decide_lat["disable"] + decide_lat["enable"]

    def row(label: str, values: list[float]) -> list[str]:
        s = summary(values)
        return [
            label,
            str(s["n"]),
            f"{s['p50']:.1f}",
            f"{s['p90']:.1f}",
            f"{s['p99']:.1f}",
            f"{s['max']:.1f}",
        ]

    rows = [
        row("DisableAgent → all deny (reply received)", reply_lat["disable"]),
        row("DisableAgent → all deny (verifier decide_time)", decide_lat["disable"]),
        row("EnableAgent → all allow (reply received)", reply_lat["enable"]),
        row("both kinds (reply received)", both_reply),
        row("both kinds (verifier decide_time)", both_decide),
    ]
    rows += [row(f"verifier {i + 1} alone (reply received)", v) for i, v in enumerate(per_verifier)]
    rows.append(row("the DisableAgent/EnableAgent call itself", mutation_lat))
    p99 = summary(reply_lat["disable"])["p99"]
    verdict = "meets" if p99 < 100 else "misses"
    write_section(
        "propagation",
        f"""
## Revocation propagation

Run {stamp()}. Machine: {started}.

{options.verifiers} verifiers connected to the registry's WatchPolicy stream. {options.trials}
trials, alternately `DisableAgent` and `EnableAgent` on one agent; the clock starts when the
registry call returns, and each verifier is polled by {options.pollers} concurrent `Verify`
loops (grpc.aio, no `min_revision`, audit on) until it answers `AGENT_DISABLED` (or `ALLOW`).
A trial's time is its slowest verifier's. "reply received" includes the audit publish of the
reply that showed the change; "decide_time" is the verifier's own timestamp of that decision
(same host clock), a tighter bound. Trials not seen within {TRIAL_TIMEOUT_S:g} s: {timeouts}.

{table(["measure", "trials", "p50 ms", "p90 ms", "p99 ms", "max ms"], rows)}

**p99 from DisableAgent returning to all {options.verifiers} verifiers denying: {p99:.1f} ms**
({verdict} the < 100 ms target; {summary(both_reply)["p50"]:.1f} ms median over both
kinds).
""",
    )


if __name__ == "__main__":
    asyncio.run(main())
