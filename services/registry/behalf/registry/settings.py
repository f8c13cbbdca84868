"""Registry settings from the environment."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import timedelta

from behalf.common.config import ConfigError, Env
from behalf.common.settings import HostSettings, KafkaSettings
from behalf.registry.identities import DIGEST_BYTES, Identity, ServiceCredentials
from behalf.registry.retention import RetentionSettings

# The RegistryInternalService listener (verifiers and dispatchers only), apart from the public one.
DEFAULT_INTERNAL_PORT = 50054
# Where each identity's accepted credentials come from: comma-separated SHA-256 hex digests.
DIGEST_VARIABLES = {
    Identity.VERIFIER: "BEHALF_VERIFIER_TOKEN_DIGESTS",
    Identity.DISPATCHER: "BEHALF_DISPATCHER_TOKEN_DIGESTS",
    Identity.OPERATOR: "BEHALF_OPERATOR_TOKEN_DIGESTS",
}


@dataclass(frozen=True)
class RegistrySettings:
    """Everything the registry process needs."""

    host: HostSettings
    kafka: KafkaSettings
    database_url: str
    internal_port: int
    credentials: ServiceCredentials
    master_key: bytes
    allow_private_webhook_urls: bool
    approval_window_seconds: float
    retention: RetentionSettings = field(default_factory=RetentionSettings)

    @classmethod
    def from_env(cls, env: Env) -> RegistrySettings:
        host = HostSettings.from_env(
            env,
            default_grpc_port=50051,
            default_metrics_port=9101,
            default_max_receive_bytes=4 * 1024 * 1024,
            default_max_concurrent_rpcs=1000,
        )
        internal_port = env.port("BEHALF_INTERNAL_PORT", DEFAULT_INTERNAL_PORT)
        if internal_port and internal_port == host.grpc_port:
            raise ConfigError("BEHALF_INTERNAL_PORT must differ from BEHALF_GRPC_PORT")
        return cls(
            host=host,
            kafka=KafkaSettings.from_env(env),
            database_url=env.str("BEHALF_DATABASE_URL"),
            internal_port=internal_port,
            credentials=_credentials(env),
            master_key=_master_key(env),
            allow_private_webhook_urls=env.bool("BEHALF_ALLOW_PRIVATE_WEBHOOK_URLS", False),
            approval_window_seconds=env.float("BEHALF_APPROVAL_WINDOW_SECONDS", 900.0, minimum=1),
            retention=_retention(env),
        )


def _retention(env: Env) -> RetentionSettings:
    """BEHALF_AUDIT_RETENTION_DAYS: 0 (the default) keeps the audit trail for ever."""
    days = env.int("BEHALF_AUDIT_RETENTION_DAYS", 0, minimum=0, maximum=36_600)
    return RetentionSettings(
        audit=timedelta(days=days) if days else None,
        interval_seconds=env.float("BEHALF_RETENTION_INTERVAL_SECONDS", 3600.0, minimum=1.0),
    )


def _credentials(env: Env) -> ServiceCredentials:
    """Every identity's accepted digests; at least one each, none shared by two identities."""
    digests = {i: _digests(env, name) for i, name in DIGEST_VARIABLES.items()}
    try:
        return ServiceCredentials(digests)
    except ValueError:
        raise ConfigError(
            f"{', '.join(DIGEST_VARIABLES.values())} must not share a digest: "
            "give every identity its own credential"
        ) from None


def _digests(env: Env, name: str) -> tuple[bytes, ...]:
    """`sha256hex[,sha256hex…]` (new first during a rotation); errors never echo a value."""
    found: list[bytes] = []
    for item in env.str(name).split(","):
        try:
            digest = bytes.fromhex(item.strip())
        except ValueError:
            digest = b""
        if len(digest) != DIGEST_BYTES:
            raise ConfigError(
                f"{name} must be comma-separated SHA-256 hex digests of the credentials "
                '(printf %s "$TOKEN" | sha256sum)'
            )
        if digest not in found:
            found.append(digest)
    return tuple(found)


def _master_key(env: Env) -> bytes:
    raw = env.secret("BEHALF_MASTER_KEY", min_length=40)
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("BEHALF_MASTER_KEY must be base64 of 32 random bytes") from None
    if len(key) != 32:
        raise ConfigError("BEHALF_MASTER_KEY must be base64 of 32 random bytes")
    return key
