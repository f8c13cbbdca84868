"""Settings every service process shares: where it listens and how it starts and stops."""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from behalf.common.config import ConfigError, Env
from behalf.common.kafka import PLAINTEXT, SASL_MECHANISMS, SECURITY_PROTOCOLS, KafkaSecurity
from behalf.common.tls import ChannelTls, ServerTls, TlsFileError

# Bounds of BEHALF_MAX_RECEIVE_BYTES: a Verify needs a few KiB; 64 MiB is what servers may send.
MIN_RECEIVE_BYTES = 16 * 1024
MAX_RECEIVE_BYTES = 64 * 1024 * 1024
# BEHALF_EVENT_LOOP: uvloop (libuv) runs grpc.aio's callbacks with less overhead per call than
# asyncio's own loop (docs/benchmarks.md); asyncio stays available as the fallback.
EVENT_LOOPS = ("uvloop", "asyncio")


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
    event_loop: str = EVENT_LOOPS[0]

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
        event_loop = env.str("BEHALF_EVENT_LOOP", EVENT_LOOPS[0]).strip().lower()
        if event_loop not in EVENT_LOOPS:
            raise ConfigError(f"BEHALF_EVENT_LOOP must be uvloop or asyncio, got {event_loop!r}")
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
            event_loop=event_loop,
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
    """Broker address, connection security and topic layout."""

    bootstrap: str
    topic_prefix: str
    partitions: int
    security: KafkaSecurity = PLAINTEXT

    @classmethod
    def from_env(cls, env: Env) -> KafkaSettings:
        prefix = env.str("BEHALF_TOPIC_PREFIX", "behalf")
        if not prefix.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ConfigError(f"BEHALF_TOPIC_PREFIX has characters Kafka refuses: {prefix!r}")
        return cls(
            bootstrap=env.str("BEHALF_KAFKA_BOOTSTRAP"),
            topic_prefix=prefix,
            partitions=env.int("BEHALF_TOPIC_PARTITIONS", 3, minimum=1, maximum=1000),
            security=kafka_security_from_env(env),
        )


_TLS_FILES = ("BEHALF_KAFKA_CA_FILE", "BEHALF_KAFKA_CERT_FILE", "BEHALF_KAFKA_KEY_FILE")
_SASL_SETTINGS = ("BEHALF_KAFKA_SASL_MECHANISM", "BEHALF_KAFKA_USERNAME", "BEHALF_KAFKA_PASSWORD")


def kafka_security_from_env(env: Env) -> KafkaSecurity:
    """BEHALF_KAFKA_SECURITY_PROTOCOL and what it needs: CA (and client certificate) files for
    TLS, a SCRAM mechanism and credentials for SASL.

    A setting the protocol would ignore is refused, so nobody believes a connection is
    encrypted or authenticated when it is not; the TLS files are loaded once here, so a bad
    file stops the process at startup with one line naming it.
    """
    protocol = env.str("BEHALF_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper()
    if protocol not in SECURITY_PROTOCOLS:
        raise ConfigError(
            "BEHALF_KAFKA_SECURITY_PROTOCOL must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL,"
            f" got {protocol!r}"
        )
    tls = protocol in {"SSL", "SASL_SSL"}
    sasl = protocol in {"SASL_PLAINTEXT", "SASL_SSL"}
    for name in (*_TLS_FILES, *_SASL_SETTINGS):
        used = tls if name in _TLS_FILES else sasl
        if not used and env.str(name, ""):
            raise ConfigError(
                f"{name} is set but BEHALF_KAFKA_SECURITY_PROTOCOL={protocol} does not use it"
            )
    ca_file, cert_file, key_file = (_readable_file(env, name) for name in _TLS_FILES)
    if (cert_file is None) != (key_file is None):
        raise ConfigError("BEHALF_KAFKA_CERT_FILE and BEHALF_KAFKA_KEY_FILE go together")
    if not sasl:
        security = KafkaSecurity(protocol, ca_file, cert_file, key_file)
    else:
        mechanism = env.str("BEHALF_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512").upper()
        if mechanism not in SASL_MECHANISMS:
            raise ConfigError(
                "BEHALF_KAFKA_SASL_MECHANISM must be SCRAM-SHA-256 or SCRAM-SHA-512,"
                f" got {mechanism!r}"
            )
        security = KafkaSecurity(
            protocol,
            ca_file,
            cert_file,
            key_file,
            sasl_mechanism=mechanism,
            username=env.str("BEHALF_KAFKA_USERNAME"),
            password=env.secret("BEHALF_KAFKA_PASSWORD"),
        )
    if tls:
        try:
            security.ssl_context()
        except (OSError, ssl.SSLError) as exc:
            files = [n for n in _TLS_FILES if env.str(n, "")] or ["the system CA store"]
            reason = getattr(exc, "reason", None) or type(exc).__name__
            raise ConfigError(f"{' / '.join(files)} could not be loaded ({reason})") from None
    return security


def _readable_file(env: Env, name: str) -> str | None:
    path = env.str(name, "")
    if not path:
        return None
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise ConfigError(f"{name} names no readable file: {path!r}")
    return path
