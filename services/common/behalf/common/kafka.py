"""Topic names, topic creation, and client settings shared by every Kafka user."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code
from aiokafka.helpers import create_ssl_context

from behalf.common.startup import retry_until

EVENT_TYPE_HEADER = "event-type"
EVENT_ID_HEADER = "event-id"

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class KafkaSecurity:
    """How every client of a process authenticates to the brokers and encrypts the connection.

    Built only through `behalf.common.settings` (which validates the combination) or as the
    PLAINTEXT default; `client_options()` is the one place that turns it into aiokafka keyword
    arguments. The password never appears in a repr or a log line.
    """

    protocol: str = "PLAINTEXT"
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    sasl_mechanism: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def uses_tls(self) -> bool:
        return self.protocol in {"SSL", "SASL_SSL"}

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in {"SASL_PLAINTEXT", "SASL_SSL"}

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that verifies the broker against `ca_file` (or the system CAs)
        and checks its host name; it presents `cert_file` when one is set (mutual TLS)."""
        context: ssl.SSLContext = create_ssl_context(
            cafile=self.ca_file, certfile=self.cert_file, keyfile=self.key_file
        )
        return context

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context()
        if self.uses_sasl:
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.username
            options["sasl_plain_password"] = self.password
        return options


PLAINTEXT = KafkaSecurity()


@dataclass(frozen=True)
class Topics:
    """Every topic of the suite, derived from one prefix so tests can isolate themselves."""

    prefix: str
    retry_tiers: tuple[str, ...] = ("5s", "1m", "10m")

    @property
    def decisions(self) -> str:
        return f"{self.prefix}.decisions"

    @property
    def lifecycle(self) -> str:
        return f"{self.prefix}.lifecycle"

    def retry(self, tier: str) -> str:
        return f"{self.prefix}.webhooks.retry.{tier}"

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}.webhooks.dead"

    def all(self) -> list[str]:
        return [
            self.decisions,
            self.lifecycle,
            *(self.retry(tier) for tier in self.retry_tiers),
            self.dead_letter,
        ]


async def ensure_topics(
    bootstrap: str,
    names: list[str],
    *,
    partitions: int,
    timeout_seconds: float,
    security: KafkaSecurity = PLAINTEXT,
) -> None:
    """Create the topics that do not exist yet (replication factor 1 locally, from config).

    A topic the broker refuses to create (not authorized, invalid settings) raises, naming the
    broker's error, rather than leaving the service to fail later on a missing topic.
    """

    async def create() -> None:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=5000, **security.client_options()
        )
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            missing = [n for n in names if n not in existing]
            if missing:
                try:
                    response = await admin.create_topics(
                        [
                            NewTopic(n, num_partitions=partitions, replication_factor=1)
                            for n in missing
                        ]
                    )
                except TopicAlreadyExistsError:
                    return
                for topic, error_code, *_ in response.topic_errors:
                    if error_code not in (0, TopicAlreadyExistsError.errno):
                        raise for_code(error_code)(f"creating topic {topic}")
        finally:
            await admin.close()

    await retry_until(f"Kafka at {bootstrap}", create, timeout_seconds=timeout_seconds)
