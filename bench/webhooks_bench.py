"""Webhook delivery: signed deliveries per second, decision→receipt latency, broken neighbours.

    python bench/webhooks_bench.py [--burst 5000] [--seconds 10] [--rate 500]

Starts real PostgreSQL and Kafka, the registry, a verifier and the dispatcher; creates webhook
endpoints through `RegistryService.CreateWebhookEndpoint` pointing at the test harness's
`Receiver` (in this process; every request's signature is verified with the public
`standardwebhooks` library after the run), and publishes `DecisionEvent`s straight to
`<prefix>.decisions` with the `event-type` header, as the verifier does. Phases:
1. one endpoint alone: a burst (deliveries/s until the last arrives), then a fixed rate
   (decision→receipt p50/p99);
2. twenty endpoints over four other tenants: a burst fanned out to all of them;
3. beside the first endpoint, one that accepts and never answers and one that answers 503:
   phase 1 again on the healthy endpoint.
Writes docs/bench/webhooks.json, docs/bench/webhooks_latency.svg and the `webhooks` section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import time
import uuid
from pathlib import Path

from _common import (
    machine,
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

FAST, HANG, UNAVAILABLE = "/fast", "/hang", "/503"
ARRIVAL_TIMEOUT_S = 120.0
ROOT = Path(__file__).resolve().parent.parent
JSON_OUT = ROOT / "docs" / "bench" / "webhooks.json"
PLOT_OUT = ROOT / "docs" / "bench" / "webhooks_latency.svg"
LOG_COPY = Path("/tmp/webhooks-bench-logs")  # the services' logs of the last run


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


async def unavailable(_request: Received, _n: int) -> tuple[int, dict[str, str]]:
    return 503, {}


class Publisher:
    """Publishes DecisionEvents to the decisions topic and remembers when each was handed over."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, tenant_id: str, agent: str):
        self.producer, self.topic, self.tenant_id, self.agent = producer, topic, tenant_id, agent
        self.sent_at: dict[str, float] = {}

    async def publish(self, tenant_id: str = "") -> tuple[str, asyncio.Future]:
        tenant_id = tenant_id or self.tenant_id
        event_id = f"evt_{uuid.uuid4().hex}"
        now = timestamp_pb2.Timestamp()
        now.GetCurrentTime()
        event = events_pb2.DecisionEvent(
            event_id=event_id,
            tenant_id=tenant_id,
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
            key=tenant_id.encode(),
            headers=[("event-type", b"verification.allowed"), ("event-id", event_id.encode())],
        )
        return event_id, ack

    async def burst(self, count: int, tenants: tuple[str, ...] = ("",)) -> list[str]:
        sent = [await self.publish(tenants[i % len(tenants)]) for i in range(count)]
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


_PARSED: dict[str, tuple[int, dict[str, float]]] = {}


def arrivals(receiver: IndexedReceiver, path: str) -> dict[str, float]:
    """event id → first receipt time on this path (duplicates share a webhook-id); parses each
    request once, so polling does not steal the receiver's CPU."""
    seen, first = _PARSED.get(path, (0, {}))
    requests = receiver.on(path)
    for request in requests[seen:]:
        event_id = json.loads(request.body)["data"]["event_id"]
        first.setdefault(event_id, request.at)
    _PARSED[path] = (len(requests), first)
    return first


async def wait_all(receiver: IndexedReceiver, ids: list[str], path: str = FAST) -> dict[str, float]:
    wanted = set(ids)
    deadline = time.monotonic() + ARRIVAL_TIMEOUT_S
    while True:
        got = arrivals(receiver, path)
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
    await asyncio.sleep(1)
    steady_start = time.monotonic()
    ids = await publisher.steady(rate, seconds)
    got = await wait_all(receiver, ids)
    steady_lat = [(got[i] - publisher.sent_at[i]) * 1000 for i in got]
    series = sorted(
        (publisher.sent_at[i] - steady_start, (got[i] - publisher.sent_at[i]) * 1000) for i in got
    )
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
        "series": series,
    }


async def fanout_phase(
    publisher: Publisher,
    receiver: IndexedReceiver,
    tenants: tuple[str, ...],
    paths: list[str],
    events: int,
) -> dict:
    """A burst over several tenants, each event fanned out to its tenant's endpoints."""
    start = time.monotonic()
    ids = set(await publisher.burst(events, tenants))
    expected = events * len(paths) // len(tenants)
    deadline = time.monotonic() + ARRIVAL_TIMEOUT_S
    while True:
        firsts = [[at for i, at in arrivals(receiver, p).items() if i in ids] for p in paths]
        total = sum(len(f) for f in firsts)
        if total >= expected or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    last = max((max(f) for f in firsts if f), default=start)
    return {
        "deliveries": total,
        "missing": expected - total,
        "per_s": total / (last - start) if total else 0.0,
    }


async def add_endpoint(registry, url: str, admin) -> registry_pb2.CreateWebhookEndpointResponse:
    return registry.CreateWebhookEndpoint(
        registry_pb2.CreateWebhookEndpointRequest(url=url, event_types=["verification.*"]),
        metadata=admin,
        timeout=10,
    )


async def until_seen(receiver: IndexedReceiver, publisher: Publisher, path: str) -> list[str]:
    """Publish one event a second until the dispatcher has sent one to `path`."""
    probes: list[str] = []
    deadline = time.monotonic() + ARRIVAL_TIMEOUT_S
    while not receiver.on(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the dispatcher never delivered to {path}")
        probes += await publisher.burst(1)
        await asyncio.sleep(1)
    return probes


def buckets(series: list, width: float = 0.5) -> tuple[list, list, list]:
    """(window start, p50, max) of decision→receipt ms per `width`-second window."""
    windows: dict[int, list[float]] = {}
    for t, ms in series:
        windows.setdefault(int(t / width), []).append(ms)
    keys = sorted(windows)
    return (
        [k * width for k in keys],
        [percentile(windows[k], 50) for k in keys],
        [max(windows[k]) for k in keys],
    )


def plot(alone: list, beside: list, rate: float) -> None:
    """decision→receipt latency over time on the healthy endpoint, alone and beside the
    broken ones: the median and the maximum of each half-second window."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.6))
    for series, label, colour in (
        (alone, "alone", "tab:blue"),
        (beside, "beside a hanging and a 503 endpoint", "tab:red"),
    ):
        at, p50, worst = buckets(series)
        ax.plot(at, p50, "-", color=colour, label=f"{label}: median")
        ax.plot(at, worst, ":", color=colour, label=f"{label}: max")
    ax.set_xlabel(f"seconds into the fixed-rate run ({rate:,.0f} events/s), half-second windows")
    ax.set_ylabel("decision→receipt, ms")
    ax.set_yscale("log")
    ax.set_title("Healthy webhook endpoint: latency over time")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    PLOT_OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT_OUT, format="svg", metadata={"Date": None})


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--burst", type=int, default=5000)
    parser.add_argument("--fanout-events", type=int, default=1600)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument(
        "--endpoint-concurrency", type=int, default=0, help="BEHALF_WEBHOOK_ENDPOINT_CONCURRENCY"
    )
    options = parser.parse_args()
    started = machine()
    receiver = IndexedReceiver()
    receiver.requests = _ByPath()
    receiver.behaviours[HANG] = hang
    receiver.behaviours[UNAVAILABLE] = unavailable
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0, backlog=1024)
    receiver.port = server.sockets[0].getsockname()[1]
    overrides = [("BEHALF_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")]
    concurrency = options.endpoint_concurrency or 8  # the dispatcher's default
    overrides.append(("BEHALF_WEBHOOK_ENDPOINT_CONCURRENCY", str(concurrency)))
    secrets: dict[str, str] = {}
    multi_paths: list[str] = []
    try:
        async with running_stack(dispatcher=True, overrides=overrides) as stack:
            seeded = seed(stack)
            registry = stack.registry_stub()
            admin = seeded.tenant.admin
            secrets[FAST] = (await add_endpoint(registry, receiver.url(FAST), admin)).signing_secret
            others = [stack.create_tenant(f"fan{t}") for t in range(4)]
            for t, tenant in enumerate(others):
                for e in range(5):
                    path = f"/multi/{t}/{e}"
                    multi_paths.append(path)
                    created = await add_endpoint(registry, receiver.url(path), tenant.admin)
                    secrets[path] = created.signing_secret
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
                await wait_all(receiver, await publisher.burst(500))  # warm-up
                healthy = await phase(
                    publisher, receiver, options.burst, options.rate, options.seconds
                )
                tenants = tuple(t.tenant_id for t in others)
                await publisher.burst(len(tenants) * 20, tenants)  # warm-up: targets cached
                await asyncio.sleep(3)
                fanout = await fanout_phase(
                    publisher, receiver, tenants, multi_paths, options.fanout_events
                )
                for path in (HANG, UNAVAILABLE):
                    await add_endpoint(registry, receiver.url(path), admin)
                probes = await until_seen(receiver, publisher, HANG)
                probes += await until_seen(receiver, publisher, UNAVAILABLE)
                await wait_all(receiver, probes)
                await asyncio.sleep(2)
                broken = await phase(
                    publisher, receiver, options.burst, options.rate, options.seconds
                )
            finally:
                await producer.stop()
            verified = 0
            for path, secret in secrets.items():
                webhook = Webhook(secret)
                for request in receiver.on(path):
                    webhook.verify(request.body, request.headers)
                    verified += 1
            shutil.copytree(stack.log_dir, LOG_COPY, dirs_exist_ok=True)
            hang_attempts = len(receiver.on(HANG))
            unavailable_attempts = len(receiver.on(UNAVAILABLE))
    finally:
        server.close()

    ratio = broken["throughput"] / max(healthy["throughput"], 1e-9)
    p99_ratio = broken["p99"] / max(healthy["p99"], 1e-9)
    headline = {
        "burst_per_s": round(healthy["throughput"], 1),
        "burst_per_s_20_endpoints": round(fanout["per_s"], 1),
        "p99_ms_at_500": round(healthy["p99"], 1),
        "healthy_ratio_with_hanging": round(ratio, 3),
        "healthy_p99_ratio_with_hanging": round(p99_ratio, 3),
        "date": stamp(),
        "machine": started,
        "details": {
            "burst_events": options.burst,
            "fixed_rate_per_s": options.rate,
            "fixed_rate_seconds": options.seconds,
            "p50_ms_at_500": round(healthy["p50"], 1),
            "p99_ms_at_500_beside_broken": round(broken["p99"], 1),
            "burst_per_s_beside_broken": round(broken["throughput"], 1),
            "fanout_deliveries": fanout["deliveries"],
            "signatures_verified": verified,
            "missing": healthy["burst_missing"]
            + healthy["steady_missing"]
            + broken["burst_missing"]
            + broken["steady_missing"]
            + fanout["missing"],
            "hanging_endpoint_requests": hang_attempts,
            "unavailable_endpoint_requests": unavailable_attempts,
            "endpoint_concurrency": concurrency,
        },
    }
    JSON_OUT.parent.mkdir(parents=True, exist_ok=True)
    JSON_OUT.write_text(json.dumps(headline, indent=2) + "\n")
    print(json.dumps(headline, indent=2))
    plot(healthy["series"], broken["series"], options.rate)

    def row(label: str, key: str, fmt: str) -> list[str]:
        a, b = healthy[key], broken[key]
        r = f"{b / a:.2f}" if a else "—"
        return [label, format(a, fmt), format(b, fmt), r]

    rows = [
        row("burst throughput, deliveries/s", "throughput", ",.0f"),
        row("burst: median decision→receipt ms", "burst_p50", ",.0f"),
        row("fixed rate, events/s offered", "rate", ",.0f"),
        row("fixed rate: p50 decision→receipt ms", "p50", ".1f"),
        row("fixed rate: p99 decision→receipt ms", "p99", ".1f"),
        row("fixed rate: max decision→receipt ms", "max", ".1f"),
    ]

    def mark(ok: bool) -> str:
        return "met" if ok else "**missed**"

    targets = table(
        ["target", "goal", "measured", ""],
        [
            [
                "burst to one endpoint, deliveries/s",
                "≥ 1,000",
                f"{headline['burst_per_s']:,.0f}",
                mark(headline["burst_per_s"] >= 1000),
            ],
            [
                "burst over 20 endpoints of 4 tenants, deliveries/s",
                "≥ 1,500",
                f"{headline['burst_per_s_20_endpoints']:,.0f}",
                mark(headline["burst_per_s_20_endpoints"] >= 1500),
            ],
            [
                f"p99 decision→receipt at {options.rate:,.0f} events/s, ms",
                "≤ 250",
                f"{headline['p99_ms_at_500']:,.0f}",
                mark(headline["p99_ms_at_500"] <= 250),
            ],
            [
                "healthy throughput beside hanging + 503 endpoints",
                "≥ 0.95x",
                f"{ratio:.2f}x",
                mark(ratio >= 0.95),
            ],
            [
                "healthy p99 beside hanging + 503 endpoints",
                "≤ 1.5x",
                f"{p99_ratio:.2f}x",
                mark(p99_ratio <= 1.5),
            ],
        ],
    )
    write_section(
        "webhooks",
        f"""
## Webhook delivery

Run {stamp()}. Machine: {started}.

The real dispatcher (batched consumer, PostgreSQL delivery records, per-endpoint lanes,
Standard Webhooks signing, one aiohttp session with keep-alive) delivering to the test harness's
`Receiver` on 127.0.0.1 (in the benchmark process), through endpoints created with
`RegistryService.CreateWebhookEndpoint`.
`DecisionEvent`s are published straight to `<prefix>.decisions` with the `event-type` header,
as the verifier does. Latency runs from handing the event to the Kafka producer (acks=all) to
the receiver reading the request. Burst: {options.burst:,} events at once; fixed rate:
{options.seconds:g} s at {options.rate:,.0f} events/s. Fan-out: {options.fanout_events:,} events
over four other tenants with five endpoints each ({fanout["deliveries"]:,} deliveries). Then an
endpoint that accepts and never answers (the dispatcher's 15 s timeout) and one that answers
503 are added beside the first, and its burst and fixed rate are repeated. Every one of the
{verified:,} requests received verified with the `standardwebhooks` library; deliveries never
received: {headline["details"]["missing"]}; requests the hanging endpoint got: {hang_attempts},
the 503 endpoint: {unavailable_attempts}. Their breakers open after 5 failures in a row; a lane
whose latest attempt failed or whose requests hang refuses at once, and its deliveries stay
`pending` in PostgreSQL without an attempt until `reclaim` offers them again (30 s), so the
broken endpoints cost the healthy one a row each in the batch's INSERT and nothing else.

{targets}

The healthy endpoint's burst still loses throughput beside the broken endpoints: the burst is
CPU-bound (the dispatcher near one core; PostgreSQL, Kafka and this process's receiver share the
other), and every event then writes three delivery rows instead of one, since the broken
endpoints' deliveries must be durable before the event's offset is committed. The fixed-rate
run is not CPU-bound: its p99 beside them stays within tens of milliseconds of its p99 alone.

{table(["healthy endpoint", "alone", "beside hanging + 503", "ratio"], rows)}

![decision→receipt latency over time](bench/webhooks_latency.svg)
""",
    )


if __name__ == "__main__":
    asyncio.run(main())
