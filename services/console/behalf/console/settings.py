"""Console settings from the environment, and the rules that follow from where it listens."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from behalf.common.config import ConfigError, Env
from behalf.common.settings import channel_tls_from_env
from behalf.common.tls import ChannelTls


def is_loopback(host: str) -> bool:
    """True for `localhost`, 127.0.0.0/8 and ::1 (also IPv4-mapped): reachable only here."""
    name = host.strip().lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def cookies_secure(host: str, override: bool | None) -> bool:
    """The session cookie's `Secure` flag: the override when given, else on unless loopback."""
    return override if override is not None else not is_loopback(host)


@dataclass(frozen=True)
class ConsoleSettings:
    """Where the console listens, which services it talks to, its secret and its sessions.

    `secure_cookies` None means "decided from `host`" (see `cookies_secure`); `database_url`
    None keeps sessions in this process's memory, which `from_env` allows on loopback only.
    """

    host: str
    port: int
    registry_target: str
    dispatcher_target: str
    verifier_target: str
    secret: bytes
    log_level: str
    database_url: str | None = None
    secure_cookies: bool | None = None
    session_idle_seconds: float = 1800.0
    session_max_seconds: float = 43200.0
    rpc_timeout_seconds: float = 10.0
    grace_seconds: float = 5.0
    startup_timeout_seconds: float = 30.0
    channel_tls: ChannelTls | None = None

    @property
    def cookie_secure(self) -> bool:
        return cookies_secure(self.host, self.secure_cookies)

    @classmethod
    def from_env(cls, env: Env) -> ConsoleSettings:
        log_level = env.str("BEHALF_LOG_LEVEL", "INFO").upper()
        if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigError(
                f"BEHALF_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}"
            )
        idle = env.float("BEHALF_CONSOLE_SESSION_IDLE_SECONDS", 1800.0, minimum=10.0)
        maximum = env.float("BEHALF_CONSOLE_SESSION_MAX_SECONDS", 43200.0, minimum=10.0)
        if maximum < idle:
            raise ConfigError(
                "BEHALF_CONSOLE_SESSION_MAX_SECONDS must be at least "
                "BEHALF_CONSOLE_SESSION_IDLE_SECONDS"
            )
        host = env.str("BEHALF_HOST", "127.0.0.1")
        database_url = env.str("BEHALF_CONSOLE_DATABASE_URL", "") or None
        if database_url is None and not is_loopback(host):
            raise ConfigError(
                "BEHALF_CONSOLE_DATABASE_URL is required unless BEHALF_HOST is a loopback "
                "address (in-memory sessions are for one local process only)"
            )
        if database_url is not None and not database_url.startswith(
            ("postgresql://", "postgres://")
        ):
            raise ConfigError("BEHALF_CONSOLE_DATABASE_URL must be a postgresql:// URL")
        return cls(
            host=host,
            port=env.port("BEHALF_CONSOLE_PORT", 8080),
            registry_target=env.str("BEHALF_REGISTRY_TARGET", "127.0.0.1:50051"),
            dispatcher_target=env.str("BEHALF_DISPATCHER_TARGET", "127.0.0.1:50053"),
            verifier_target=env.str("BEHALF_VERIFIER_TARGET", "127.0.0.1:50052"),
            secret=env.secret("BEHALF_CONSOLE_SECRET", min_length=32).encode(),
            log_level=log_level,
            database_url=database_url,
            secure_cookies=_tristate(env, "BEHALF_CONSOLE_SECURE_COOKIES"),
            session_idle_seconds=idle,
            session_max_seconds=maximum,
            rpc_timeout_seconds=env.float("BEHALF_CONSOLE_RPC_TIMEOUT_SECONDS", 10.0, minimum=0.1),
            grace_seconds=env.float("BEHALF_GRACE_SECONDS", 5.0),
            startup_timeout_seconds=env.float("BEHALF_STARTUP_TIMEOUT_SECONDS", 30.0, minimum=0.1),
            channel_tls=channel_tls_from_env(env),
        )


def _tristate(env: Env, name: str) -> bool | None:
    """`auto` (or unset) is None; otherwise the variable must be true or false."""
    if env.str(name, "auto").strip().lower() == "auto":
        return None
    try:
        return env.bool(name, False)
    except ConfigError:
        raise ConfigError(f"{name} must be auto, true or false") from None
