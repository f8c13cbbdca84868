"""A tiny OTLP/gRPC trace collector for tests: keeps every span the services export.

Service processes cannot share an in-memory span exporter with the test, so they export over
OTLP (OTEL_EXPORTER_OTLP_ENDPOINT) to this collector, which runs in the test process on its own
threads (the test's blocking gRPC calls never hold it up) and turns what it receives into plain
`CollectedSpan`s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

KINDS = {
    trace_pb2.Span.SPAN_KIND_INTERNAL: "INTERNAL",
    trace_pb2.Span.SPAN_KIND_SERVER: "SERVER",
    trace_pb2.Span.SPAN_KIND_CLIENT: "CLIENT",
    trace_pb2.Span.SPAN_KIND_PRODUCER: "PRODUCER",
    trace_pb2.Span.SPAN_KIND_CONSUMER: "CONSUMER",
}


@dataclass(frozen=True)
class CollectedSpan:
    """One exported span: ids as lower-case hex, as W3C `traceparent` writes them."""

    service: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]

    def child_of(self, parent: CollectedSpan) -> bool:
        return self.trace_id == parent.trace_id and self.parent_span_id == parent.span_id


def _value(any_value: Any) -> Any:
    field = any_value.WhichOneof("value")
    return getattr(any_value, field) if field else None


class _Collector(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    def __init__(self, keep: bool) -> None:
        self.spans: list[CollectedSpan] = []
        self.count = 0
        self._keep = keep
        self._lock = threading.Lock()

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, _context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        if not self._keep:  # a sink (benchmarks): count, convert nothing
            count = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
            with self._lock:
                self.count += count
            return trace_service_pb2.ExportTraceServiceResponse()
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            service = str(resource.get("service.name", ""))
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        CollectedSpan(
                            service,
                            span.name,
                            KINDS.get(span.kind, "UNSPECIFIED"),
                            span.trace_id.hex(),
                            span.span_id.hex(),
                            span.parent_span_id.hex(),
                            {a.key: _value(a.value) for a in span.attributes},
                        )
                    )
        with self._lock:
            self.spans.extend(received)
            self.count += len(received)
        return trace_service_pb2.ExportTraceServiceResponse()


@dataclass
class TraceCollector:
    """The collector's address and what it has received so far."""

    endpoint: str
    _collector: _Collector

    @property
    def count(self) -> int:
        """Spans received so far (kept or not)."""
        with self._collector._lock:
            return self._collector.count

    @property
    def spans(self) -> list[CollectedSpan]:
        with self._collector._lock:
            return list(self._collector.spans)

    def wait_for(
        self, found: Callable[[list[CollectedSpan]], bool], within: float = 20.0
    ) -> list[CollectedSpan]:
        """The spans, once `found` holds for them; AssertionError after `within` seconds."""
        deadline = time.monotonic() + within
        while True:
            spans = self.spans
            if found(spans):
                return spans
            if time.monotonic() > deadline:
                names = sorted({f"{s.service}:{s.name}" for s in spans})
                raise AssertionError(f"spans not exported in {within}s; have {names}")
            time.sleep(0.1)


@contextmanager
def trace_collector(*, keep: bool = True) -> Iterator[TraceCollector]:
    """An OTLP/gRPC trace collector on 127.0.0.1, for the duration of the block; with
    `keep=False` a sink that only counts what it receives."""
    collector = _Collector(keep)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield TraceCollector(f"http://127.0.0.1:{port}", collector)
    finally:
        server.stop(0)
