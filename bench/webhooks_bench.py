"""Webhook delivery: signed deliveries per second, decision→receipt latency, a hanging endpoint.

    python bench/webhooks_bench.py [--burst 3000] [--seconds 8] [--rate 0]

Starts real PostgreSQL and Kafka, the registry, a verifier and the dispatcher; creates a
webhook endpoint through `RegistryService.CreateWebhookEndpoint` pointing at the test
harness's `Receiver` (in this process), and publishes `DecisionEvent`s straight to
`<prefix>.decisions` with the `event-type` header, as the verifier does. Measures, on that
endpoint:
1. throughput: a burst of --burst events published at once; deliveries/s until the last
   arrives;
2. latency at a fixed rate (--rate, default half the burst throughput): time from handing the
   event to the Kafka producer to its receipt, p50/p99;
then adds a second endpoint that never answers (the dispatcher's 15 s timeout applies) and
repeats both. Writes the `webhooks` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid

from _common import (
    machine,
    metric_total,
    percentile,
    running_stack,
    seed,
    settle,
    stamp,
    table,
    write_section,
)
from aiokafka import AIOKafkaProducer
from google.protobuf import timestamp_pb2
from standardwebhooks.webhooks import Webhook

from behalf.v1 import common_pb2, events_pb2, registry_pb2
from tests.harness.receiver import Received, Receiver

FAST, HANG = "/fast", "/hang"
ARRIVAL_TIMEOUT_S = 120.0


class _ByPath(list):
    """The receiver's request list, also indexed by path (its `on` is a scan per request)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_path: dict[str, list[Received]] = {}

    def append(self, request: Received) -> None:
        super().append(request)
        self.by_path.setdefault(request.path, []).append(request)


class IndexedReceiver(Receiver):
    """The test harness's receiver, with O(1) lookups by path so it keeps up at a high rate."""

    def on(self, path: str) -> list[Received]:
        return self.requests.by_path.get(path, [])  # type: ignore[attr-defined]


async def hang(_request: Received, _n: int) -> None:
    return None


class Publisher:
    """Publishes DecisionEvents to the decisions topic and remembers when each was handed over."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, tenant_id: str, agent: str):
        self.producer, self.topic, self.tenant_id, self.agent = producer, topic, tenant_id, agent
        self.sent_at: dict[str, float] = {}

    async def publish(self) -> tuple[str, asyncio.Future]:
        event_id = f"evt_{uuid.uuid4().hex}"
        now = timestamp_pb2.Timestamp()
        now.GetCurrentTime()
        event = events_pb2.DecisionEvent(
            event_id=event_id,
            tenant_id=self.tenant_id,
            agent_id=self.agent,
            action="purchase",
            resource="coachella.com",
            decision=common_pb2.Decision(
                request_id=f"req_{uuid.uuid4().hex[:20]}",
                outcome=common_pb2.OUTCOME_ALLOW,
                reason_code=common_pb2.REASON_CODE_ALLOWED,
                reason="allowed by the benchmark",
                risk=common_pb2.RISK_LOW,
                decide_time=now,
            ),
        )
        self.sent_at[event_id] = time.monotonic()
        ack = await self.producer.send(
            self.topic,
            value=event.SerializeToString(),
            key=self.tenant_id.encode(),
            headers=[("event-type", b"verification.allowed"), ("event-id", event_id.encode())],
        )
        return event_id, ack

    async def burst(self, count: int) -> list[str]:
        sent = [await self.publish() for _ in range(count)]
        await asyncio.gather(*(ack for _, ack in sent))
        return [event_id for event_id, _ in sent]

    async def steady(self, rate: float, seconds: float) -> list[str]:
        sent = []
        start = time.monotonic()
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            sent.append(await self.publish())
        await asyncio.gather(*(ack for _, ack in sent))
        return [event_id for event_id, _ in sent]


def arrivals(receiver: IndexedReceiver, path: str) -> dict[str, float]:
    """event id → first receipt time on this path (duplicates share a webhook-id)."""
    first: dict[str, float] = {}
    for request in receiver.on(path):
        event_id = json.loads(request.body)["data"]["event_id"]
        first.setdefault(event_id, request.at)
    return first


async def wait_all(receiver: IndexedReceiver, ids: list[str]) -> dict[str, float]:
    wanted = set(ids)
    deadline = time.monotonic() + ARRIVAL_TIMEOUT_S
    while True:
        got = arrivals(receiver, FAST)
        if wanted <= got.keys() or time.monotonic() > deadline:
            return {i: got[i] for i in ids if i in got}
        await asyncio.sleep(0.2)


async def phase(
    publisher: Publisher, receiver: IndexedReceiver, burst: int, rate: float, seconds: float
) -> dict:
    """One burst for throughput, then a fixed rate for latency; both measured on /fast."""
    start = time.monotonic()
    ids = await publisher.burst(burst)
    got = await wait_all(receiver, ids)
    burst_missing = burst - len(got)
    throughput = len(got) / (max(got.values()) - start) if got else 0.0
    burst_lat = [(got[i] - publisher.sent_at[i]) * 1000 for i in got]
    rate = rate or max(50.0, throughput / 2)
    ids = await publisher.steady(rate, seconds)
    got = await wait_all(receiver, ids)
    steady_lat = [(got[i] - publisher.sent_at[i]) * 1000 for i in got]
    return {
        "throughput": throughput,
        "burst_missing": burst_missing,
        "burst_p50": percentile(burst_lat, 50),
        "rate": rate,
        "steady_n": len(ids),
        "steady_missing": len(ids) - len(got),
        "p50": percentile(steady_lat, 50),
        "p99": percentile(steady_lat, 99),
        "max": max(steady_lat) if steady_lat else 0.0,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--burst", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rate", type=float, default=0)
    parser.add_argument(
        "--endpoint-concurrency", type=int, default=0, help="BEHALF_WEBHOOK_ENDPOINT_CONCURRENCY"
    )
    options = parser.parse_args()
    started = machine()
    receiver = IndexedReceiver()
    receiver.requests = _ByPath()
    receiver.behaviours[HANG] = hang
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    overrides = [("BEHALF_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")]
    concurrency = options.endpoint_concurrency or 8  # the dispatcher's default
    overrides.append(("BEHALF_WEBHOOK_ENDPOINT_CONCURRENCY", str(concurrency)))
    attempt_mean_ms = 0.0
    try:
        async with running_stack(dispatcher=True, overrides=overrides) as stack:
            seeded = seed(stack)
            registry = stack.registry_stub()
            endpoint = registry.CreateWebhookEndpoint(
                registry_pb2.CreateWebhookEndpointRequest(
                    url=receiver.url(FAST), event_types=["verification.*"]
                ),
                metadata=seeded.tenant.admin,
                timeout=10,
            )
            producer = AIOKafkaProducer(
                bootstrap_servers=stack.env["BEHALF_KAFKA_BOOTSTRAP"],
                acks="all",
                enable_idempotence=True,
                linger_ms=2,
            )
            await producer.start()
            try:
                publisher = Publisher(
                    producer,
                    f"{stack.topic_prefix}.decisions",
                    seeded.tenant.tenant_id,
                    seeded.agent_id,
                )
                settle(2)
                await wait_all(receiver, await publisher.burst(200))  # warm-up
                healthy = await phase(
                    publisher, receiver, options.burst, options.rate, options.seconds
                )
                registry.CreateWebhookEndpoint(
                    registry_pb2.CreateWebhookEndpointRequest(
                        url=receiver.url(HANG), event_types=["verification.*"]
                    ),
                    metadata=seeded.tenant.admin,
                    timeout=10,
                )
                probes: list[str] = []
                deadline = time.monotonic() + ARRIVAL_TIMEOUT_S
                while not receiver.on(HANG):  # until the dispatcher has seen the new endpoint
                    if time.monotonic() > deadline:
                        raise TimeoutError("the dispatcher never delivered to the new endpoint")
                    probes += await publisher.burst(1)
                    await asyncio.sleep(1)
                await wait_all(receiver, probes)
                hanging = await phase(
                    publisher, receiver, options.burst, healthy["rate"], options.seconds
                )
            finally:
                await producer.stop()
            webhook = Webhook(endpoint.signing_secret)
            sample = receiver.on(FAST)[:200]
            for request in sample:
                webhook.verify(request.body, request.headers)
            hang_attempts = len(receiver.on(HANG))
            port = stack.dispatcher.metrics_port
            attempt_mean_ms = (
                metric_total(port, "behalf_webhook_attempt_seconds_sum")
                / max(1.0, metric_total(port, "behalf_webhook_attempt_seconds_count"))
                * 1000
            )
    finally:
        server.close()

    def row(label: str, key: str, fmt: str) -> list[str]:
        a, b = healthy[key], hanging[key]
        ratio = f"{b / a:.2f}" if a else "—"
        return [label, format(a, fmt), format(b, fmt), ratio]

    rows = [
        row("burst throughput, deliveries/s", "throughput", ",.0f"),
        row("burst: median decision→receipt ms", "burst_p50", ",.0f"),
        row("fixed rate, events/s offered", "rate", ",.0f"),
        row("fixed rate: p50 decision→receipt ms", "p50", ".1f"),
        row("fixed rate: p99 decision→receipt ms", "p99", ".1f"),
        row("fixed rate: max decision→receipt ms", "max", ".1f"),
    ]
    missing = (
        healthy["burst_missing"]
        + healthy["steady_missing"]
        + hanging["burst_missing"]
        + hanging["steady_missing"]
    )
    write_section(
        "webhooks",
        f"""
## Webhook delivery

Run {stamp()}. Machine: {started}.

The real dispatcher (consumer, PostgreSQL delivery records, Standard Webhooks signing, httpx)
delivering to the test harness's `Receiver` on 127.0.0.1 (in the benchmark process), through
an endpoint created with `RegistryService.CreateWebhookEndpoint`. `DecisionEvent`s are
published straight to `<prefix>.decisions` with the `event-type` header, as the verifier does.
Latency runs from handing the event to the Kafka producer (acks=all) to the receiver reading
the request. Burst: {options.burst:,} events at once; fixed rate: {options.seconds:g} s at half
the healthy burst throughput. Then a second endpoint of the same tenant that accepts the
connection and never answers is added, and both runs are repeated; the figures are for the
healthy endpoint. All 200 sampled deliveries verified with the `standardwebhooks` library;
events never received by the healthy endpoint: {missing}; requests the hanging endpoint got:
{hang_attempts} (each held until the dispatcher's 15 s timeout; at most
`BEHALF_WEBHOOK_ENDPOINT_CONCURRENCY`={concurrency} at a time, the rest parked in the 5 s retry
tier). Mean HTTP attempt latency inside the dispatcher (its `behalf_webhook_attempt_seconds`
histogram, healthy and hanging attempts together): {attempt_mean_ms:,.0f} ms.

{table(["healthy endpoint", "alone", "with a hanging endpoint", "ratio"], rows)}

**{healthy["throughput"]:,.0f} signed deliveries/s; p99 {healthy["p99"]:.0f} ms at
{healthy["rate"]:,.0f}/s.** With a hanging endpoint beside it, the healthy endpoint keeps
{hanging["throughput"] / max(healthy["throughput"], 1):.0%} of its burst throughput and its p99
moves from {healthy["p99"]:.0f} to {hanging["p99"]:.0f} ms.
""",
    )


if __name__ == "__main__":
    asyncio.run(main())
