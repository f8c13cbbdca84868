"""Registry settings from the environment."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from behalf.common.config import ConfigError, Env
from behalf.common.settings import HostSettings, KafkaSettings


@dataclass(frozen=True)
class RegistrySettings:
    """Everything the registry process needs."""

    host: HostSettings
    kafka: KafkaSettings
    database_url: str
    service_token: str
    master_key: bytes
    allow_private_webhook_urls: bool
    approval_window_seconds: float

    @classmethod
    def from_env(cls, env: Env) -> RegistrySettings:
        return cls(
            host=HostSettings.from_env(
                env,
                default_grpc_port=50051,
                default_metrics_port=9101,
                default_max_receive_bytes=4 * 1024 * 1024,
                default_max_concurrent_rpcs=1000,
            ),
            kafka=KafkaSettings.from_env(env),
            database_url=env.str("BEHALF_DATABASE_URL"),
            service_token=env.secret("BEHALF_SERVICE_TOKEN"),
            master_key=_master_key(env),
            allow_private_webhook_urls=env.bool("BEHALF_ALLOW_PRIVATE_WEBHOOK_URLS", False),
            approval_window_seconds=env.float("BEHALF_APPROVAL_WINDOW_SECONDS", 900.0, minimum=1),
        )


def _master_key(env: Env) -> bytes:
    raw = env.secret("BEHALF_MASTER_KEY", min_length=40)
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("BEHALF_MASTER_KEY must be base64 of 32 random bytes") from None
    if len(key) != 32:
        raise ConfigError("BEHALF_MASTER_KEY must be base64 of 32 random bytes")
    return key
