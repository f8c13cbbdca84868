"""Verifier settings from the environment."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from behalf.common.config import Env
from behalf.common.host import DEFAULT_MAX_CONCURRENT_RPCS
from behalf.common.settings import HostSettings, KafkaSettings, channel_tls_from_env
from behalf.common.tls import ChannelTls
from behalf.common.workers import worker_count, worker_index
from behalf.verifier.admission import default_tenant_in_flight


@dataclass(frozen=True)
class VerifierSettings:
    """Everything the verifier process needs."""

    host: HostSettings
    kafka: KafkaSettings
    registry_target: str  # the registry's internal listener (RegistryInternalService)
    service_token: str  # this service's own credential there (identities.py in the registry)
    verifier_id: str
    staleness_bound_seconds: float
    min_revision_wait_seconds: float
    audit_timeout_seconds: float
    audit_lanes: int = 1  # transactional producers committing in parallel (audit.py)
    http_port: int = 0  # HTTP/JSON Verify (http_api.py); 0: not served
    # The registry's public API, where GET /v1/approvals/{id} reads with the caller's own key.
    registry_public_target: str = "127.0.0.1:50051"
    channel_tls: ChannelTls | None = None
    workers: int = 1  # processes sharing the port (behalf.common.workers)
    # Calls one tenant may have in flight per process (admission.py).
    tenant_in_flight: int = default_tenant_in_flight(DEFAULT_MAX_CONCURRENT_RPCS)

    @classmethod
    def from_env(cls, env: Env) -> VerifierSettings:
        host = HostSettings.from_env(
            env,
            default_grpc_port=50052,
            default_metrics_port=9102,
            default_max_receive_bytes=1024 * 1024,
            default_max_concurrent_rpcs=1000,
        )
        default_id = f"verifier-{socket.gethostname()}-{os.getpid()}"
        verifier_id = env.str("BEHALF_VERIFIER_ID", default_id)
        index = worker_index(env)
        if index is not None:
            # The id names the audit producers' transactional ids: workers sharing one would
            # fence each other.
            verifier_id = f"{verifier_id}-w{index}"
        return cls(
            host=host,
            kafka=KafkaSettings.from_env(env),
            registry_target=env.str("BEHALF_REGISTRY_INTERNAL_TARGET", "127.0.0.1:50054"),
            service_token=env.secret("BEHALF_VERIFIER_TOKEN", min_length=32),
            verifier_id=verifier_id,
            staleness_bound_seconds=env.float("BEHALF_STALENESS_BOUND_SECONDS", 30.0, minimum=0.1),
            min_revision_wait_seconds=env.float("BEHALF_MIN_REVISION_WAIT_SECONDS", 0.5),
            audit_timeout_seconds=env.float("BEHALF_AUDIT_TIMEOUT_SECONDS", 2.0, minimum=0.05),
            audit_lanes=env.int("BEHALF_AUDIT_LANES", 1, minimum=1, maximum=16),
            http_port=env.int("BEHALF_HTTP_PORT", 8081, maximum=65535),
            registry_public_target=env.str("BEHALF_REGISTRY_TARGET", "127.0.0.1:50051"),
            channel_tls=channel_tls_from_env(env),
            workers=worker_count(env, "BEHALF_VERIFIER_WORKERS", grpc_port=host.grpc_port),
            tenant_in_flight=env.int(
                "BEHALF_VERIFIER_TENANT_IN_FLIGHT",
                default_tenant_in_flight(host.max_concurrent_rpcs),
                minimum=1,
                maximum=host.max_concurrent_rpcs,
            ),
        )
