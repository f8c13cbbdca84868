"""Topic names, topic creation, and client settings shared by every Kafka user."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from behalf.common.startup import retry_until

EVENT_TYPE_HEADER = "event-type"


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
    bootstrap: str, names: list[str], *, partitions: int, timeout_seconds: float
) -> None:
    """Create the topics that do not exist yet (replication factor 1 locally, from config)."""

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            missing = [n for n in names if n not in existing]
            if missing:
                try:
                    await admin.create_topics(
                        [
                            NewTopic(n, num_partitions=partitions, replication_factor=1)
                            for n in missing
                        ]
                    )
                except TopicAlreadyExistsError:
                    pass
        finally:
            await admin.close()

    await retry_until(f"Kafka at {bootstrap}", create, timeout_seconds=timeout_seconds)
