"""Kafka over SASL_SSL with one SCRAM identity per service and per-identity ACLs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError
from standardwebhooks.webhooks import Webhook

from behalf.common.config import Env
from behalf.common.kafka import KafkaSecurity, Topics, ensure_topics
from behalf.common.settings import kafka_security_from_env
from behalf.v1 import common_pb2, registry_pb2
from tests.harness.infra import KafkaServer, start_kafka
from tests.harness.processes import start_service
from tests.harness.receiver import Receiver
from tests.harness.stack import start_stack, stop_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sasl_kafka(infra_base_dir: Path) -> Iterator[KafkaServer]:
    """A broker of this module's own whose only client listener is SASL_SSL."""
    server = start_kafka(infra_base_dir, sasl=True)
    yield server
    server.stop()


@pytest.fixture
async def topics(sasl_kafka: KafkaServer) -> Topics:
    """A fresh topic prefix whose topics the admin created, and on which each service identity
    has its ACLs, without CREATE (as in production)."""
    named = Topics(f"sasl{uuid.uuid4().hex[:8]}")
    admin = _security(sasl_kafka, "behalf-admin")
    await ensure_topics(
        sasl_kafka.bootstrap, named.all(), partitions=2, timeout_seconds=60, security=admin
    )
    sasl_kafka.grant_service_acls(named.prefix, create=False)
    return named


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    server = await asyncio.start_server(recv.handle, "127.0.0.1", 0)
    recv.port = server.sockets[0].getsockname()[1]
    yield recv
    server.close()


def _security(server: KafkaServer, user: str) -> KafkaSecurity:
    return kafka_security_from_env(Env(server.client_env(user)))


async def _produce(bootstrap: str, topic: str, **options: Any) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=5000, **options)
    try:
        async with asyncio.timeout(60):
            await producer.start()
            await producer.send_and_wait(topic, b"forged decision")
    finally:
        await producer.stop()


async def test_verify_is_audited_and_delivered_over_sasl_ssl(
    database_url: str, sasl_kafka: KafkaServer, topics: Topics, receiver: Receiver, tmp_path
) -> None:
    """With each service on its own SCRAM identity over TLS, an allowed Verify is audited
    (ListDecisions shows it) and reaches an endpoint as a signed webhook, and no service log
    holds a Kafka password."""
    identities = {
        user: sasl_kafka.client_env(f"behalf-{user}")
        for user in ("registry", "verifier", "dispatcher")
    }
    stack = await start_stack(
        database_url,
        sasl_kafka.bootstrap,
        tmp_path,
        verifiers=0,
        overrides=[
            ("BEHALF_TOPIC_PREFIX", topics.prefix),
            ("BEHALF_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
            *identities["registry"].items(),
        ],
    )
    try:
        # start_stack gives every service the same environment; each of these gets its own
        # Kafka identity, so the ACLs below are the ones each job needs.
        stack.start_verifier(**identities["verifier"])
        stack.dispatcher = start_service(
            "dispatcher",
            stack.env,
            stack.log_dir,
            BEHALF_REGISTRY_INTERNAL_TARGET=stack.registry.internal_target,
            **identities["dispatcher"],
        )
        stack.dispatcher.wait_serving()

        tenant = stack.create_tenant()
        registry = stack.registry_stub()
        endpoint = registry.CreateWebhookEndpoint(
            registry_pb2.CreateWebhookEndpointRequest(
                url=receiver.url("/hooks"), event_types=["verification.*"]
            ),
            metadata=tenant.admin,
            timeout=10,
        )
        agent_id, grant = stack.agent_with_grant(tenant)
        decision = stack.verify_purchase(tenant, agent_id, grant, 50000)
        assert decision.outcome == common_pb2.OUTCOME_ALLOW

        deadline = asyncio.get_running_loop().time() + 60
        audited: list[str] = []
        while decision.request_id not in audited:
            assert asyncio.get_running_loop().time() < deadline, "decision never audited"
            await asyncio.sleep(0.2)
            listed = registry.ListDecisions(
                registry_pb2.ListDecisionsRequest(agent_id=agent_id),
                metadata=tenant.admin,
                timeout=10,
            )
            audited = [d.decision.request_id for d in listed.decisions]

        await receiver.wait_for(lambda: bool(receiver.on("/hooks")), within=60, what="webhook")
        payload = Webhook(endpoint.signing_secret).verify(
            receiver.on("/hooks")[0].body, receiver.on("/hooks")[0].headers
        )
        assert payload["type"] == "verification.allowed"
        assert payload["data"]["decision"]["request_id"] == decision.request_id

        logs = "".join(p.read_text(errors="replace") for p in stack.log_dir.glob("*.log"))
        for env in identities.values():
            assert env["BEHALF_KAFKA_PASSWORD"] not in logs
    finally:
        await stop_stack(stack)


async def test_only_the_verifier_can_write_decisions(
    sasl_kafka: KafkaServer, topics: Topics
) -> None:
    """A client without credentials, without SASL, with a wrong password, or signed in as
    another service cannot put a record on the decisions topic; the verifier can."""
    bootstrap = sasl_kafka.bootstrap
    registry = _security(sasl_kafka, "behalf-registry")
    assert sasl_kafka.ca_file is not None
    verifier = _security(sasl_kafka, "behalf-verifier")
    strangers: dict[str, dict[str, Any]] = {
        "plaintext": {},
        "tls without sasl": KafkaSecurity("SSL", ca_file=sasl_kafka.ca_file).client_options(),
        "wrong password": KafkaSecurity(
            "SASL_SSL",
            ca_file=sasl_kafka.ca_file,
            sasl_mechanism="SCRAM-SHA-512",
            username="behalf-verifier",
            password="not-the-password-0123456789",
        ).client_options(),
    }
    for options in strangers.values():
        with pytest.raises(KafkaError):
            await _produce(bootstrap, topics.decisions, **options)
    for other in ("behalf-registry", "behalf-dispatcher"):
        with pytest.raises(TopicAuthorizationFailedError):
            await _produce(
                bootstrap, topics.decisions, **_security(sasl_kafka, other).client_options()
            )

    await _produce(bootstrap, topics.decisions, **verifier.client_options())
    consumer = AIOKafkaConsumer(
        topics.decisions,
        bootstrap_servers=bootstrap,
        group_id=f"{topics.prefix}.registry-audit",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **registry.client_options(),
    )
    await consumer.start()
    values: list[bytes | None] = []
    try:
        async with asyncio.timeout(60):
            while not values:
                batches = await consumer.getmany(timeout_ms=1000)
                values = [r.value for rs in batches.values() for r in rs]
    finally:
        await consumer.stop()
    assert values == [b"forged decision"]


async def test_rotated_password_replaces_the_old_one(
    sasl_kafka: KafkaServer, topics: Topics
) -> None:
    """After `kafka.sh set-password`, the new SCRAM password works and the old one is refused."""
    old = _security(sasl_kafka, "behalf-verifier")
    sasl_kafka.set_password("behalf-verifier")
    new = _security(sasl_kafka, "behalf-verifier")
    assert new.password != old.password
    await _produce(sasl_kafka.bootstrap, topics.decisions, **new.client_options())
    with pytest.raises(KafkaError):
        await _produce(sasl_kafka.bootstrap, topics.decisions, **old.client_options())
