"""Verifier settings from the environment."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from behalf.common.config import Env
from behalf.common.settings import HostSettings, KafkaSettings, channel_tls_from_env
from behalf.common.tls import ChannelTls


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
    channel_tls: ChannelTls | None = None

    @classmethod
    def from_env(cls, env: Env) -> VerifierSettings:
        return cls(
            host=HostSettings.from_env(
                env,
                default_grpc_port=50052,
                default_metrics_port=9102,
                default_max_receive_bytes=1024 * 1024,
                default_max_concurrent_rpcs=1000,
            ),
            kafka=KafkaSettings.from_env(env),
            registry_target=env.str("BEHALF_REGISTRY_INTERNAL_TARGET", "127.0.0.1:50054"),
            service_token=env.secret("BEHALF_VERIFIER_TOKEN", min_length=32),
            verifier_id=env.str(
                "BEHALF_VERIFIER_ID", f"verifier-{socket.gethostname()}-{os.getpid()}"
            ),
            staleness_bound_seconds=env.float("BEHALF_STALENESS_BOUND_SECONDS", 30.0, minimum=0.1),
            min_revision_wait_seconds=env.float("BEHALF_MIN_REVISION_WAIT_SECONDS", 0.5),
            audit_timeout_seconds=env.float("BEHALF_AUDIT_TIMEOUT_SECONDS", 2.0, minimum=0.05),
            channel_tls=channel_tls_from_env(env),
        )
