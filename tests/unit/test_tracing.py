"""Tracing (behalf.common.tracing) in process, spans read from an in-memory exporter."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from behalf.common import tracing
from behalf.common.config import ConfigError
from behalf.common.errors import InvalidArgument
from behalf.common.host import ServiceHost
from behalf.common.tls import open_channel
from behalf.dispatcher.breaker import Breaker
from behalf.dispatcher.delivery import DeliverySettings
from behalf.dispatcher.delivery_spans import TracedDeliverer, traced_attempts
from behalf.dispatcher.lanes import EndpointLanes, LaneSettings
from behalf.dispatcher.store import DeliveryRow
from behalf.dispatcher.targets import Target
from tests.harness.receiver import Receiver


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on for one test, every finished span kept in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    yield exporter
    tracing.shutdown_tracing()


def _named(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    found = [s for s in exporter.get_finished_spans() if s.name == name]
    assert len(found) == 1, [s.name for s in exporter.get_finished_spans()]
    return found[0]


def _child_of(child: ReadableSpan, parent: ReadableSpan) -> bool:
    assert child.context is not None and parent.context is not None
    return (
        child.parent is not None
        and child.parent.span_id == parent.context.span_id
        and child.context.trace_id == parent.context.trace_id
    )


def _ids(traceparent: str | bytes) -> tuple[str, str]:
    """(trace id, parent span id) of a W3C `traceparent` value."""
    text = traceparent.decode() if isinstance(traceparent, bytes) else traceparent
    _version, trace_id, span_id, _flags = text.split("-")
    return trace_id, span_id


def _span_ids(span: ReadableSpan) -> tuple[str, str]:
    assert span.context is not None
    return f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4317"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, True),
    ],
)
def test_the_standard_variables_turn_tracing_on_and_off(environ: dict[str, str], on: bool):
    """Tracing is on only when an OTLP endpoint or a trace exporter is named, and never with
    OTEL_SDK_DISABLED=true."""
    assert tracing.wanted(environ) is on


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_TRACES_EXPORTER": "zipkin"},
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        },
    ],
)
def test_an_exporter_this_build_lacks_is_a_configuration_error(environ: dict[str, str]):
    """An exporter or OTLP protocol that is not installed is refused at startup, not ignored."""
    with pytest.raises(ConfigError):
        tracing.configure_tracing("verifier", environ)
    assert not tracing.enabled()


def test_service_name_defaults_to_behalf_service(monkeypatch: pytest.MonkeyPatch):
    """The resource is named behalf-<service> unless OTEL_SERVICE_NAME names it."""
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    assert tracing.resource("verifier").attributes["service.name"] == "behalf-verifier"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "verifier-eu1")
    assert tracing.resource("verifier").attributes["service.name"] == "verifier-eu1"


def test_off_installs_nothing_and_writes_no_header():
    """With tracing off there are no interceptors, no record headers, no spans, no log ids."""
    assert not tracing.enabled()
    assert tracing.server_interceptors() == [] and tracing.client_interceptors() == []
    assert tracing.context_headers() == ()
    traceparent = b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01"
    assert tracing.extract([("traceparent", traceparent)]) is None
    with tracing.producer_span("t.decisions", "evt_1") as headers:
        assert headers == ()
    with tracing.span("x") as span:
        assert span is None
    assert tracing.current() is None
    assert tracing.add_trace_ids(None, "info", {"event": "e"}) == {"event": "e"}
    assert traced_attempts(_noop_work) is _noop_work


async def _noop_work(_row: DeliveryRow, _target: Target, _breaker: Breaker) -> None:
    return None


def test_a_record_carries_its_producer_span_to_its_consumers(spans: InMemorySpanExporter):
    """The producer span's context travels in a `traceparent` record header; each consumer
    span is its child, and a record without one gets no span."""
    with tracing.producer_span("t.decisions", "evt_1") as headers:
        pass
    producer = _named(spans, "send t.decisions")
    assert producer.kind is SpanKind.PRODUCER
    assert _ids(dict(headers)["traceparent"]) == _span_ids(producer)
    with tracing.consumer_spans("t.decisions", [headers, None, [("event-id", b"evt_2")], headers]):
        pass
    consumers = [s for s in spans.get_finished_spans() if s.name == "process t.decisions"]
    assert len(consumers) == 2
    assert all(_child_of(consumer, producer) for consumer in consumers)
    assert consumers[0].attributes is not None
    assert consumers[0].attributes["messaging.batch.message_count"] == 4


def test_log_lines_carry_the_active_span_ids(spans: InMemorySpanExporter):
    """Inside a span a log line gets its trace_id and span_id; outside it gets neither."""
    assert "trace_id" not in tracing.add_trace_ids(None, "info", {})
    with tracing.span("work"):
        logged = tracing.add_trace_ids(None, "info", {})
    work = _named(spans, "work")
    assert work.context is not None
    assert logged == {
        "trace_id": f"{work.context.trace_id:032x}",
        "span_id": f"{work.context.span_id:016x}",
    }


_PING = "/test.Echo/Ping"


def _echo(_servicer: Any, server: grpc.aio.Server) -> None:
    async def ping(request: bytes, _context: Any) -> bytes:
        return request

    async def refuse(_request: bytes, _context: Any) -> bytes:
        raise InvalidArgument("agent_id", "must not be empty")

    methods = {
        "Ping": grpc.unary_unary_rpc_method_handler(ping),
        "Refuse": grpc.unary_unary_rpc_method_handler(refuse),
    }
    watch = {"WatchPolicy": grpc.unary_unary_rpc_method_handler(ping)}
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler("test.Echo", methods),
            grpc.method_handlers_generic_handler("test.Policy", watch),
        )
    )


@pytest.fixture
async def echo_host(spans: InMemorySpanExporter) -> AsyncIterator[ServiceHost]:
    """A ServiceHost built while tracing is on, serving test.Echo/Ping and a WatchPolicy."""
    host = ServiceHost("test", host="127.0.0.1", port=0, metrics_port=None, grace_seconds=0)
    host.add_service(_echo, None, "test.Echo")
    await host.start()
    yield host
    await host.drain()


async def test_grpc_calls_between_services_continue_the_callers_trace(
    spans: InMemorySpanExporter, echo_host: ServiceHost
):
    """A call through `open_channel` to a `ServiceHost` is a CLIENT span under the caller's
    span and a SERVER span under that; health checks and the policy stream are not traced."""
    channel = open_channel(f"127.0.0.1:{echo_host.bound_port}", None)
    try:
        with tracing.span("verify"):
            assert await channel.unary_unary(_PING)(b"hi", timeout=5) == b"hi"
            await channel.unary_unary("/test.Policy/WatchPolicy")(b"x", timeout=5)
        await asyncio.sleep(0.05)  # the server span ends after the reply is sent
    finally:
        await channel.close()
    verify = _named(spans, "verify")
    client = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT]
    server = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert [s.name for s in client] == [_PING] and [s.name for s in server] == [_PING]
    assert _child_of(client[0], verify) and _child_of(server[0], client[0])


def _row() -> DeliveryRow:
    now = datetime.now(UTC)
    return DeliveryRow(
        "dlv_1", "ten", "ep_1", "evt_1", "verification.allowed", "msg_1", "pending", 0, 0,
        b"{}", None, 0, "", now, now,
    )  # fmt: skip


async def test_a_delivery_is_traced_from_its_queueing_context_to_the_post(
    spans: InMemorySpanExporter,
):
    """A delivery queued in a decision's context is attempted in a "deliver webhook" span
    under it; the POST is a CLIENT span under that, whose context the receiver gets as
    `traceparent`."""
    receiver = Receiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    deliverer = TracedDeliverer(DeliverySettings(allow_private_targets=True))
    url = receiver.url("/hooks")

    async def attempt(row: DeliveryRow, _target: Target, _breaker: Breaker) -> None:
        outcome = await deliverer.post(url, {"webhook-id": row.webhook_id}, row.payload)
        assert outcome.status_code == 200

    lanes = EndpointLanes(LaneSettings(), traced_attempts(attempt))
    try:
        with tracing.span("send decisions"):
            await lanes.put(_row(), Target("ep_1", "ten", url, (), False, ("whsec_x",)))
        await receiver.wait_for(lambda: bool(receiver.requests), within=5)
        await asyncio.sleep(0.05)
    finally:
        await lanes.stop(1)
        await deliverer.close()
        server.close()
    decision = _named(spans, "send decisions")
    deliver = _named(spans, "deliver webhook")
    post = _named(spans, "POST")
    assert _child_of(deliver, decision) and _child_of(post, deliver)
    assert deliver.attributes is not None and deliver.attributes["behalf.delivery.id"] == "dlv_1"
    assert post.attributes is not None and post.attributes["http.response.status_code"] == 200
    assert _ids(receiver.requests[0].headers["traceparent"]) == _span_ids(post)
    assert receiver.requests[0].headers["webhook-id"] == "msg_1"


async def test_errors_keep_their_status_and_details_under_a_traced_server(
    spans: InMemorySpanExporter, echo_host: ServiceHost
):
    """A handler's InvalidArgument still reaches the caller as INVALID_ARGUMENT with its field
    in the status details, and the server span records the status code (a client error leaves
    the server span's status unset, as the gRPC semantic conventions say)."""
    channel = open_channel(f"127.0.0.1:{echo_host.bound_port}", None)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await channel.unary_unary("/test.Echo/Refuse")(b"", timeout=5)
        await asyncio.sleep(0.05)
    finally:
        await channel.close()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "agent_id: must not be empty"
    trailers = dict(caught.value.trailing_metadata() or ())
    assert "grpc-status-details-bin" in trailers
    (server,) = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert server.attributes is not None and server.attributes["rpc.grpc.status_code"] == 3
