"""One trace for a Verify, from the caller through the registry and Kafka to its webhook."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from opentelemetry.instrumentation.grpc import client_interceptor
from opentelemetry.instrumentation.grpc.grpcext import intercept_channel
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from behalf.v1 import common_pb2, registry_pb2, verifier_pb2, verifier_pb2_grpc
from tests.harness.receiver import Receiver
from tests.harness.stack import start_stack, stop_stack
from tests.harness.trace_collector import CollectedSpan, trace_collector

pytestmark = pytest.mark.integration


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    server = await asyncio.start_server(recv.handle, "127.0.0.1", 0)
    recv.port = server.sockets[0].getsockname()[1]
    yield recv
    server.close()


def _one(spans: list[CollectedSpan], service: str, kind: str, name: str) -> CollectedSpan:
    found = [s for s in spans if (s.service, s.kind, s.name) == (service, kind, name)]
    assert len(found) == 1, (service, kind, name, [(s.service, s.kind, s.name) for s in spans])
    return found[0]


async def test_a_verify_is_one_trace_through_to_its_webhook(
    database_url: str, kafka_bootstrap: str, receiver: Receiver, tmp_path
) -> None:
    """The caller's traced Verify (its span in an in-memory exporter) is the root of one trace:
    the verifier's server span, its budget call to the registry (client and server), the
    decision's producer span, whose `traceparent` record header makes the registry's audit
    sink and the dispatcher's delivery its children, the delivery's POST, whose context the
    endpoint receives as `traceparent`; the verifier's log line for the RPC has the trace id."""
    caller_spans = InMemorySpanExporter()
    caller = TracerProvider()
    caller.add_span_processor(SimpleSpanProcessor(caller_spans))
    with trace_collector() as collector:
        stack = await start_stack(
            database_url,
            kafka_bootstrap,
            tmp_path,
            dispatcher=True,
            overrides=[
                ("BEHALF_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
                ("BEHALF_LOG_LEVEL", "DEBUG"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint),
                ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
                ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ],
        )
        try:
            tenant = stack.create_tenant()
            stack.registry_stub().CreateWebhookEndpoint(
                registry_pb2.CreateWebhookEndpointRequest(
                    url=receiver.url("/hooks"), event_types=["verification.*"]
                ),
                metadata=tenant.admin,
            )
            agent_id, grant = stack.agent_with_grant(
                tenant, budget=common_pb2.Money(amount_minor=500000, currency="USD")
            )
            channel = intercept_channel(
                stack.channel(stack.verifiers[0].target),
                client_interceptor(tracer_provider=caller),
            )
            decision = (
                verifier_pb2_grpc.VerifierServiceStub(channel)
                .Verify(
                    verifier_pb2.VerifyRequest(
                        agent_id=agent_id,
                        action="purchase",
                        resource="coachella.com",
                        amount=common_pb2.Money(amount_minor=25000, currency="USD"),
                        min_revision=grant.revision,
                    ),
                    metadata=tenant.verify,
                    timeout=10,
                )
                .decision
            )
            assert decision.outcome == common_pb2.OUTCOME_ALLOW
            await receiver.wait_for(lambda: bool(receiver.on("/hooks")), what="the webhook")
            webhook = receiver.on("/hooks")[0]
            assert json.loads(webhook.body)["data"]["decision"]["request_id"] == (
                decision.request_id
            )

            (root,) = caller_spans.get_finished_spans()
            assert root.context is not None and root.parent is None
            trace_id, root_id = f"{root.context.trace_id:032x}", f"{root.context.span_id:016x}"
            decisions = f"{stack.topic_prefix}.decisions"
            expected = {
                ("verifier", "SERVER", "/behalf.v1.VerifierService/Verify"),
                ("verifier", "CLIENT", "/behalf.v1.RegistryInternalService/ReserveBudget"),
                ("registry", "SERVER", "/behalf.v1.RegistryInternalService/ReserveBudget"),
                ("verifier", "PRODUCER", f"send {decisions}"),
                ("registry", "CONSUMER", f"process {decisions}"),
                ("dispatcher", "CONSUMER", "deliver webhook"),
                ("dispatcher", "CLIENT", "POST"),
            }

            def complete(spans: list[CollectedSpan]) -> bool:
                have = {(s.service, s.kind, s.name) for s in spans if s.trace_id == trace_id}
                return {(f"behalf-{svc}", kind, name) for svc, kind, name in expected} <= have

            spans = [s for s in collector.wait_for(complete) if s.trace_id == trace_id]
            verify = _one(spans, "behalf-verifier", "SERVER", "/behalf.v1.VerifierService/Verify")
            budget_call = _one(
                spans,
                "behalf-verifier",
                "CLIENT",
                "/behalf.v1.RegistryInternalService/ReserveBudget",
            )
            budget = _one(
                spans,
                "behalf-registry",
                "SERVER",
                "/behalf.v1.RegistryInternalService/ReserveBudget",
            )
            produced = _one(spans, "behalf-verifier", "PRODUCER", f"send {decisions}")
            audited = _one(spans, "behalf-registry", "CONSUMER", f"process {decisions}")
            delivery = _one(spans, "behalf-dispatcher", "CONSUMER", "deliver webhook")
            post = _one(spans, "behalf-dispatcher", "CLIENT", "POST")

            assert verify.parent_span_id == root_id
            assert budget_call.child_of(verify) and budget.child_of(budget_call)
            assert produced.child_of(verify)
            assert produced.attributes["messaging.message.id"].startswith("evt")
            assert audited.child_of(produced) and delivery.child_of(produced)
            assert delivery.attributes["behalf.webhook.id"] == webhook.headers["webhook-id"]
            assert post.child_of(delivery)
            assert post.attributes["http.response.status_code"] == 200
            _version, sent_trace, sent_parent, _flags = webhook.headers["traceparent"].split("-")
            assert (sent_trace, sent_parent) == (trace_id, post.span_id)

            logged = [
                json.loads(line)
                for line in stack.verifiers[0].log_path.read_text().splitlines()
                if line.startswith("{") and '"rpc_done"' in line and '"Verify"' in line
            ]
            assert any(
                entry.get("trace_id") == trace_id and entry.get("span_id") == verify.span_id
                for entry in logged
            ), logged
        finally:
            await stop_stack(stack)
            caller.shutdown()
