"""Settings every service process shares: where it listens and how it starts and stops."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from behalf.common.config import ConfigError, Env
from behalf.common.tls import ChannelTls, ServerTls, TlsFileError

# Bounds of BEHALF_MAX_RECEIVE_BYTES: a Verify needs a few KiB; 64 MiB is what servers may send.
MIN_RECEIVE_BYTES = 16 * 1024
MAX_RECEIVE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class HostSettings:
    """Listening addresses, drain and startup bounds, log level, bounds on what callers send."""

    host: str
    grpc_port: int
    metrics_port: int | None
    grace_seconds: float
    startup_timeout_seconds: float
    log_level: str
    max_receive_bytes: int
    max_concurrent_rpcs: int
    tls: ServerTls | None = None

    @classmethod
    def from_env(
        cls,
        env: Env,
        *,
        default_grpc_port: int,
        default_metrics_port: int,
        default_max_receive_bytes: int,
        default_max_concurrent_rpcs: int,
    ) -> HostSettings:
        metrics_port = env.port("BEHALF_METRICS_PORT", default_metrics_port)
        log_level = env.str("BEHALF_LOG_LEVEL", "INFO").upper()
        if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigError(
                f"BEHALF_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}"
            )
        return cls(
            host=env.str("BEHALF_HOST", "127.0.0.1"),
            grpc_port=env.port("BEHALF_GRPC_PORT", default_grpc_port),
            metrics_port=metrics_port or None,
            grace_seconds=env.float("BEHALF_GRACE_SECONDS", 10.0),
            startup_timeout_seconds=env.float("BEHALF_STARTUP_TIMEOUT_SECONDS", 30.0, minimum=0.1),
            log_level=log_level,
            max_receive_bytes=env.int(
                "BEHALF_MAX_RECEIVE_BYTES",
                default_max_receive_bytes,
                minimum=MIN_RECEIVE_BYTES,
                maximum=MAX_RECEIVE_BYTES,
            ),
            max_concurrent_rpcs=env.int(
                "BEHALF_MAX_CONCURRENT_RPCS", default_max_concurrent_rpcs, minimum=1
            ),
            tls=server_tls_from_env(env),
        )


def server_tls_from_env(env: Env) -> ServerTls | None:
    """A listener's TLS files (BEHALF_TLS_CERT_FILE, BEHALF_TLS_KEY_FILE, and for mutual TLS
    BEHALF_TLS_CLIENT_CA_FILE), read and checked now; None (plaintext) when none is set."""
    names = ("BEHALF_TLS_CERT_FILE", "BEHALF_TLS_KEY_FILE", "BEHALF_TLS_CLIENT_CA_FILE")
    cert, key, client_ca = (_path(env, name) for name in names)
    if cert is None and key is None:
        if client_ca is not None:
            raise ConfigError(
                "BEHALF_TLS_CLIENT_CA_FILE needs BEHALF_TLS_CERT_FILE and BEHALF_TLS_KEY_FILE"
            )
        return None
    if cert is None or key is None:
        raise ConfigError("BEHALF_TLS_CERT_FILE and BEHALF_TLS_KEY_FILE are set together")
    tls = ServerTls(cert, key, client_ca)
    _checked(tls.configuration, dict(zip((cert, key, client_ca), names, strict=True)))
    return tls


def channel_tls_from_env(env: Env) -> ChannelTls | None:
    """Outgoing channels' TLS files (BEHALF_TLS_CA_FILE, and for mutual TLS
    BEHALF_TLS_CLIENT_CERT_FILE and BEHALF_TLS_CLIENT_KEY_FILE), read and checked now; None
    (plaintext) when none is set."""
    names = ("BEHALF_TLS_CA_FILE", "BEHALF_TLS_CLIENT_CERT_FILE", "BEHALF_TLS_CLIENT_KEY_FILE")
    ca, cert, key = (_path(env, name) for name in names)
    if (cert is None) != (key is None):
        raise ConfigError(
            "BEHALF_TLS_CLIENT_CERT_FILE and BEHALF_TLS_CLIENT_KEY_FILE are set together"
        )
    if ca is None:
        if cert is not None:
            raise ConfigError("BEHALF_TLS_CLIENT_CERT_FILE needs BEHALF_TLS_CA_FILE")
        return None
    tls = ChannelTls(ca, cert, key)
    _checked(tls.credentials, dict(zip((ca, cert, key), names, strict=True)))
    return tls


def _path(env: Env, name: str) -> Path | None:
    value = env.str(name, "").strip()
    return Path(value) if value else None


def _checked(load: Callable[[], object], names: dict[Path | None, str]) -> None:
    """Run `load`; a bad file becomes a one-line ConfigError naming its variable."""
    try:
        load()
    except TlsFileError as exc:
        raise ConfigError(f"{names.get(exc.path, 'TLS')}: {exc}") from None


@dataclass(frozen=True)
class KafkaSettings:
    """Broker address and topic layout."""

    bootstrap: str
    topic_prefix: str
    partitions: int

    @classmethod
    def from_env(cls, env: Env) -> KafkaSettings:
        prefix = env.str("BEHALF_TOPIC_PREFIX", "behalf")
        if not prefix.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ConfigError(f"BEHALF_TOPIC_PREFIX has characters Kafka refuses: {prefix!r}")
        return cls(
            bootstrap=env.str("BEHALF_KAFKA_BOOTSTRAP"),
            topic_prefix=prefix,
            partitions=env.int("BEHALF_TOPIC_PARTITIONS", 3, minimum=1, maximum=1000),
        )
