"""OpenTelemetry tracing: off unless the standard `OTEL_*` variables ask for it.

    OTEL_SDK_DISABLED=true                  off, whatever else is set
    OTEL_TRACES_EXPORTER=otlp | console     on (`none`: off)
    OTEL_EXPORTER_OTLP[_TRACES]_ENDPOINT    on: OTLP over gRPC to that collector
    none of these                           off

`configure_tracing` (called once per serving process by `behalf.common.runner`) installs a
tracer provider: the resource from OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (service name
`behalf-<service>` by default), the sampler from OTEL_TRACES_SAMPLER, batching from OTEL_BSP_*,
the exporter's endpoint, headers, TLS and timeout from OTEL_EXPORTER_OTLP_*, propagators from
OTEL_PROPAGATORS (W3C trace context and baggage by default). The rest of this module is what the
services use: the maintained gRPC interceptors for their servers and channels, spans around
Kafka records with the W3C context in record headers, and a structlog processor that puts the
trace and span ids on log lines.

Off, each of these returns at its first line: no interceptor is installed, no header is
written, no span is made; the decision path pays one attribute test per helper call.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Span, SpanKind

from behalf.common.config import ConfigError

Headers = Sequence[tuple[str, bytes]]
"""Kafka record headers as aiokafka takes and gives them."""

# RPCs that are not requests: probes, reflection, and the verifiers' hours-long policy stream.
_UNTRACED_SERVICES = ("grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection")
_UNTRACED_METHODS = ("WatchPolicy",)
_INSTRUMENTATION = "behalf"


class _State:
    """The provider every span of this process comes from, once tracing is on."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer(_INSTRUMENTATION)


_state: _State | None = None
_NO_HEADERS: tuple[tuple[str, bytes], ...] = ()
_OFF: contextlib.nullcontext[Any] = contextlib.nullcontext()
_OFF_HEADERS: contextlib.nullcontext[Headers] = contextlib.nullcontext(_NO_HEADERS)


# -- turning it on ----------------------------------------------------------------------------


def wanted(environ: Mapping[str, str]) -> bool:
    """Whether the OTEL_* variables in `environ` turn tracing on (see the module docstring)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = _exporter_names(environ)
    if exporters is not None:
        return exporters != ["none"]
    return any(
        environ.get(name, "").strip()
        for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def _exporter_names(environ: Mapping[str, str]) -> list[str] | None:
    raw = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not raw:
        return None
    return [name.strip() for name in raw.split(",") if name.strip()] or None


def _exporters(environ: Mapping[str, str]) -> list[SpanExporter]:
    """The exporters OTEL_TRACES_EXPORTER names (OTLP over gRPC by default)."""
    names = _exporter_names(environ) or ["otlp"]
    exporters: list[SpanExporter] = []
    for name in names:
        if name == "otlp":
            for variable in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
                protocol = environ.get(variable, "").strip().lower()
                if protocol and protocol != "grpc":
                    raise ConfigError(f"{variable}={protocol}: only grpc is supported")
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())
        elif name == "console":
            exporters.append(ConsoleSpanExporter())
        elif name != "none":
            raise ConfigError(f"OTEL_TRACES_EXPORTER: unknown exporter {name!r}")
    return exporters


def resource(service: str) -> Resource:
    """The process's resource from OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, named
    `behalf-<service>` unless those name it."""
    detected = Resource.create()
    if str(detected.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        detected = detected.merge(Resource({SERVICE_NAME: f"behalf-{service}"}))
    return detected


def configure_tracing(service: str, environ: Mapping[str, str] | None = None) -> bool:
    """Turn tracing on for this process if the OTEL_* variables ask for it; whether it is on.
    Raises ConfigError for an exporter or protocol this build cannot serve."""
    environ = os.environ if environ is None else environ
    if not wanted(environ):
        return False
    provider = TracerProvider(resource=resource(service))
    for exporter in _exporters(environ):
        provider.add_span_processor(BatchSpanProcessor(exporter))
    install(provider)
    trace.set_tracer_provider(provider)
    return True


def install(provider: TracerProvider) -> None:
    """Make `provider` the source of this module's spans (tests pass their own)."""
    global _state
    _state = _State(provider)


def shutdown_tracing() -> None:
    """Export what is buffered (bounded by the exporter's timeout) and turn tracing off."""
    global _state
    state, _state = _state, None
    if state is not None:
        state.provider.shutdown()


def enabled() -> bool:
    return _state is not None


# -- gRPC -------------------------------------------------------------------------------------


def _traced(details: Any) -> bool:
    """The interceptors' filter: every RPC but probes, reflection and the policy stream."""
    method = details.method
    if isinstance(method, bytes):  # grpc.aio client call details (grpc/grpc#31092)
        method = method.decode()
    service, _, name = str(method).lstrip("/").rpartition("/")
    return service not in _UNTRACED_SERVICES and name not in _UNTRACED_METHODS


def server_interceptors() -> list[grpc.aio.ServerInterceptor]:
    """OpenTelemetry's grpc.aio server interceptor (a SERVER span per RPC, continuing the
    caller's trace), or nothing while tracing is off."""
    if _state is None:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    interceptor: grpc.aio.ServerInterceptor = aio_server_interceptor(  # type: ignore[no-untyped-call]
        tracer_provider=_state.provider, filter_=_traced
    )
    return [interceptor]


def client_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """OpenTelemetry's grpc.aio unary client interceptor (a CLIENT span per call, `traceparent`
    in its metadata), or nothing while tracing is off. Only unary calls are traced between the
    services: the one stream is the policy watch, which is not a request."""
    if _state is None:
        return []
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    every: list[grpc.aio.ClientInterceptor] = aio_client_interceptors(  # type: ignore[no-untyped-call]
        tracer_provider=_state.provider, filter_=_traced
    )
    return [i for i in every if isinstance(i, grpc.aio.UnaryUnaryClientInterceptor)]


# -- Kafka records ----------------------------------------------------------------------------


class _HeaderSetter(Setter[list[tuple[str, bytes]]]):
    def set(self, carrier: list[tuple[str, bytes]], key: str, value: str) -> None:
        carrier.append((key, value.encode()))


class _HeaderGetter(Getter[Headers]):
    def get(self, carrier: Headers, key: str) -> list[str] | None:
        values = [v.decode("latin-1") for k, v in carrier or () if k == key and v is not None]
        return values or None

    def keys(self, carrier: Headers) -> list[str]:
        return [k for k, _v in carrier or ()]


_SETTER = _HeaderSetter()
_GETTER = _HeaderGetter()


def context_headers() -> Headers:
    """The current trace context as record headers (`traceparent`, `tracestate`, `baggage`)."""
    if _state is None:
        return _NO_HEADERS
    headers: list[tuple[str, bytes]] = []
    propagate.inject(headers, setter=_SETTER)
    return headers


def extract(headers: Headers | None) -> Context | None:
    """The trace context a record's headers carry, or None (tracing off, or no headers)."""
    if _state is None or not headers:
        return None
    return propagate.extract(headers, getter=_GETTER)


def producer_span(topic: str, message_id: str) -> contextlib.AbstractContextManager[Headers]:
    """A PRODUCER span for one record sent to `topic`; yields the headers that carry it."""
    if _state is None:
        return _OFF_HEADERS
    return _producer(_state.tracer, topic, message_id)


@contextlib.contextmanager
def _producer(tracer: trace.Tracer, topic: str, message_id: str) -> Iterator[Headers]:
    attributes = _messaging(topic, "send")
    attributes["messaging.message.id"] = message_id
    with tracer.start_as_current_span(
        f"send {topic}", kind=SpanKind.PRODUCER, attributes=attributes
    ):
        yield context_headers()


def consumer_spans(
    topic: str, records: Iterable[Headers | None]
) -> contextlib.AbstractContextManager[None]:
    """One CONSUMER span per record (given by its headers) that carries a trace context, a
    child of that context; all open for the block (a batch handled at once). A record without
    one gets no span: a batch of untraced records must not start hundreds of traces."""
    if _state is None:
        return _OFF
    return _consumers(_state.tracer, topic, list(records))


@contextlib.contextmanager
def _consumers(tracer: trace.Tracer, topic: str, records: list[Headers | None]) -> Iterator[None]:
    attributes = _messaging(topic, "process")
    attributes["messaging.batch.message_count"] = len(records)
    parents = [context for headers in records if (context := _traced_context(headers))]
    spans = [
        tracer.start_span(
            f"process {topic}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
        )
        for parent in parents
    ]
    try:
        yield
    except BaseException as exc:
        for span in spans:
            span.record_exception(exc)
            span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
        raise
    finally:
        for span in spans:
            span.end()


def _traced_context(headers: Headers | None) -> Context | None:
    """The context `headers` carry if they carry a span, else None."""
    if not headers or not any(key == "traceparent" for key, _value in headers):
        return None
    return propagate.extract(headers, getter=_GETTER)


def _messaging(topic: str, operation: str) -> dict[str, Any]:
    return {
        "messaging.system": "kafka",
        "messaging.destination.name": topic,
        "messaging.operation.type": operation,
    }


# -- in-process hand-offs ---------------------------------------------------------------------


def current() -> Context | None:
    """The current context, to resume in another task (`resumed`); None while tracing is off."""
    if _state is None:
        return None
    return otel_context.get_current()


def resumed(context: Context | None) -> contextlib.AbstractContextManager[Any]:
    """Run the block in `context` (from `current` or `extract`); nothing for None."""
    if context is None:
        return _OFF
    return _attached(context)


@contextlib.contextmanager
def _attached(context: Context) -> Iterator[None]:
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)


def span(
    name: str, kind: SpanKind = SpanKind.INTERNAL, attributes: Mapping[str, Any] | None = None
) -> contextlib.AbstractContextManager[Span | None]:
    """A span around the block, a child of the current context; nothing while tracing is off."""
    if _state is None:
        return _OFF
    return _state.tracer.start_as_current_span(name, kind=kind, attributes=dict(attributes or {}))


def inject_http(headers: MutableMapping[str, str]) -> None:
    """Add the current trace context to outgoing HTTP headers (`traceparent`, `tracestate`)."""
    if _state is not None:
        propagate.inject(headers)


# -- logs -------------------------------------------------------------------------------------


def add_trace_ids(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: `trace_id` and `span_id` (hex, as W3C writes them) of the active
    span, when tracing is on and a span is recording."""
    if _state is None:
        return event_dict
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event_dict["trace_id"] = format(span_context.trace_id, "032x")
        event_dict["span_id"] = format(span_context.span_id, "016x")
    return event_dict
