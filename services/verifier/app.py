"""The verifier service's lifecycle: audit producer, policy watch, servicers."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer
from behalf.common.host import ServiceHost
from behalf.common.startup import retry_until
from behalf.v1 import verifier_pb2_grpc
from behalf.verifier.settings import VerifierSettings


class VerifierService:
    """Wires the Verify servicer to the registry and Kafka."""

    def __init__(self, settings: VerifierSettings) -> None:
        self.settings = settings
        self.producer: AIOKafkaProducer | None = None

    def register(self, host: ServiceHost) -> None:
        host.add_service(
            verifier_pb2_grpc.add_VerifierServiceServicer_to_server,
            verifier_pb2_grpc.VerifierServiceServicer(),
            "behalf.v1.VerifierService",
        )

    async def start(self, host: ServiceHost) -> None:
        async def start_producer() -> AIOKafkaProducer:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.settings.kafka.bootstrap,
                acks="all",
                enable_idempotence=True,
                linger_ms=1,
            )
            try:
                await producer.start()
            except Exception:
                await producer.stop()
                raise
            return producer

        self.producer = await retry_until(
            f"Kafka at {self.settings.kafka.bootstrap}",
            start_producer,
            timeout_seconds=self.settings.host.startup_timeout_seconds,
        )
        await host.set_serving(True)

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()
