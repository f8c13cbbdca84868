"""The verifier service's lifecycle: audit producer, policy watch, servicers."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import grpc
from envoy.service.auth.v3 import external_auth_pb2_grpc  # type: ignore[import-untyped]

from behalf.common.host import ServiceHost
from behalf.common.kafka import Topics
from behalf.common.startup import StartupError, retry_until
from behalf.common.tls import open_channel
from behalf.v1 import verifier_pb2_grpc
from behalf.verifier.api import Verifier, VerifierApi
from behalf.verifier.approval_reads import ApprovalReads
from behalf.verifier.audit import DecisionPublisher
from behalf.verifier.ext_authz import ExtAuthzApi
from behalf.verifier.http_api import HttpListener, HttpVerifyApi
from behalf.verifier.policy_watch import PolicyWatcher
from behalf.verifier.registry_steps import RegistrySteps
from behalf.verifier.settings import VerifierSettings

REGISTRY_CALL_TIMEOUT_SECONDS = 2.0


class VerifierService:
    """Wires the Verify and ext_authz servicers to the registry and Kafka."""

    def __init__(self, settings: VerifierSettings) -> None:
        self.settings = settings
        self.publisher: DecisionPublisher | None = None
        self._channel: grpc.aio.Channel | None = None
        self.watcher: PolicyWatcher | None = None
        self._http: HttpListener | None = None
        self._public_channel: grpc.aio.Channel | None = None

    def register(self, host: ServiceHost) -> None:
        settings = self.settings
        # Started in start(); until then a publish fails, so nothing can be allowed before the
        # audit trail is reachable.
        self.publisher = self.audit_trail()
        self._channel = open_channel(
            settings.registry_target,
            settings.channel_tls,
            options=[
                ("grpc.max_receive_message_length", 64 * 1024 * 1024),
                ("grpc.keepalive_time_ms", 10_000),
                ("grpc.keepalive_timeout_ms", 5_000),
                ("grpc.keepalive_permit_without_calls", 1),
            ],
        )
        self.watcher = PolicyWatcher(
            self._channel,
            service_token=settings.service_token,
            verifier_id=settings.verifier_id,
            staleness_bound=timedelta(seconds=settings.staleness_bound_seconds),
        )
        verifier = Verifier(
            self.watcher,
            RegistrySteps(
                self._channel,
                service_token=settings.service_token,
                timeout=REGISTRY_CALL_TIMEOUT_SECONDS,
            ),
            self.publisher,
            verifier_id=settings.verifier_id,
            min_revision_wait_seconds=settings.min_revision_wait_seconds,
            tenant_in_flight=settings.tenant_in_flight,
        )
        host.add_service(
            verifier_pb2_grpc.add_VerifierServiceServicer_to_server,
            VerifierApi(verifier),
            "behalf.v1.VerifierService",
        )
        host.add_service(
            external_auth_pb2_grpc.add_AuthorizationServicer_to_server,
            ExtAuthzApi(verifier),
            "envoy.service.auth.v3.Authorization",
        )
        if settings.http_port:
            self._public_channel = open_channel(
                settings.registry_public_target, settings.channel_tls
            )
            approvals = ApprovalReads(self._public_channel, REGISTRY_CALL_TIMEOUT_SECONDS)
            tls = settings.host.tls.ssl_context() if settings.host.tls else None
            self._http = HttpListener(
                HttpVerifyApi(verifier, approvals), settings.host.host, settings.http_port, tls
            )

    def audit_trail(self) -> DecisionPublisher:
        """Where decisions are audited: Kafka, in transactions (audit.py)."""
        settings = self.settings
        return DecisionPublisher(
            settings.kafka.bootstrap,
            Topics(settings.kafka.topic_prefix).decisions,
            settings.audit_timeout_seconds,
            transactional_id=f"behalf-verifier-{settings.verifier_id}",
            lanes=settings.audit_lanes,
            security=settings.kafka.security,
        )

    async def start(self, host: ServiceHost) -> None:
        assert self.watcher is not None
        self.watcher.start()

        assert self.publisher is not None
        await retry_until(
            f"Kafka at {self.settings.kafka.bootstrap}",
            self.publisher.start,
            timeout_seconds=self.settings.host.startup_timeout_seconds,
        )
        try:
            async with asyncio.timeout(self.settings.host.startup_timeout_seconds):
                await self.watcher.wait_ready()
        except TimeoutError:
            raise StartupError(
                f"no policy snapshot from the registry at {self.settings.registry_target}"
            ) from None
        if self._http is not None:  # like the gRPC port: bound once it can decide
            await self._http.start()
        await host.set_serving(True)

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.stop()
        if self.watcher is not None:
            await self.watcher.stop()
        if self.publisher is not None:
            await self.publisher.stop()
        if self._channel is not None:
            await self._channel.close()
        if self._public_channel is not None:
            await self._public_channel.close()
