"""Console settings from the environment."""

from __future__ import annotations

from dataclasses import dataclass

from behalf.common.config import ConfigError, Env


@dataclass(frozen=True)
class ConsoleSettings:
    """Where the console listens, which services it talks to, and its secret."""

    host: str
    port: int
    registry_target: str
    dispatcher_target: str
    verifier_target: str
    secret: bytes
    log_level: str
    secure_cookies: bool = False
    session_idle_seconds: float = 1800.0
    session_max_seconds: float = 43200.0
    rpc_timeout_seconds: float = 10.0
    grace_seconds: float = 5.0

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
        return cls(
            host=env.str("BEHALF_HOST", "127.0.0.1"),
            port=env.port("BEHALF_CONSOLE_PORT", 8080),
            registry_target=env.str("BEHALF_REGISTRY_TARGET", "127.0.0.1:50051"),
            dispatcher_target=env.str("BEHALF_DISPATCHER_TARGET", "127.0.0.1:50053"),
            verifier_target=env.str("BEHALF_VERIFIER_TARGET", "127.0.0.1:50052"),
            secret=env.secret("BEHALF_CONSOLE_SECRET", min_length=32).encode(),
            log_level=log_level,
            secure_cookies=env.bool("BEHALF_CONSOLE_SECURE_COOKIES", False),
            session_idle_seconds=idle,
            session_max_seconds=maximum,
            rpc_timeout_seconds=env.float("BEHALF_CONSOLE_RPC_TIMEOUT_SECONDS", 10.0, minimum=0.1),
            grace_seconds=env.float("BEHALF_GRACE_SECONDS", 5.0),
        )
