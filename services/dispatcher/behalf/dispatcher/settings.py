"""Dispatcher settings from the environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from behalf.common.config import ConfigError, Env
from behalf.common.settings import HostSettings, KafkaSettings, channel_tls_from_env
from behalf.common.tls import ChannelTls
from behalf.dispatcher.delivery import DeliverySettings
from behalf.dispatcher.lanes import LaneSettings
from behalf.dispatcher.retry_policy import RetryPolicy


@dataclass(frozen=True)
class DispatcherSettings:
    """Everything the dispatcher process needs."""

    host: HostSettings
    kafka: KafkaSettings
    database_url: str
    registry_target: str  # the registry's internal listener (RegistryInternalService)
    service_token: str  # this service's own credential there (identities.py in the registry)
    retry_tiers: tuple[str, ...] = ("5s", "1m", "10m")
    retry_after_cap_seconds: float = 600.0
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    consumer_group: str = "behalf-dispatcher"
    target_cache_seconds: float = 60.0
    disable_after_failing_seconds: float = 86400.0
    max_in_flight: int = 1000
    channel_tls: ChannelTls | None = None
    # Seconds between health reports to the registry, which counts a report for a minute.
    health_report_seconds: float = 10.0
    # How long finished deliveries are kept; None: for ever (retention.py).
    retention: timedelta | None = timedelta(days=30)

    def lanes(self) -> LaneSettings:
        d = self.delivery
        return LaneSettings(
            concurrency=d.endpoint_concurrency,
            queue_limit=d.endpoint_queue_limit,
            rate_per_second=d.endpoint_rate_per_second,
            burst=d.endpoint_burst,
            stall_seconds=d.stall_seconds,
            breaker_threshold=d.breaker_threshold,
            breaker_cooldown_seconds=d.breaker_cooldown_seconds,
        )

    def policy(self) -> RetryPolicy:
        return RetryPolicy(self.retry_tiers, self.retry_after_cap_seconds)

    @classmethod
    def from_env(cls, env: Env) -> DispatcherSettings:
        tiers = tuple(
            t.strip() for t in env.str("BEHALF_WEBHOOK_RETRY_TIERS", "5s,1m,10m").split(",")
        )
        cap = env.float("BEHALF_WEBHOOK_RETRY_AFTER_CAP_SECONDS", 600.0)
        try:
            RetryPolicy(tiers, cap)
        except ValueError as exc:
            raise ConfigError(f"BEHALF_WEBHOOK_RETRY_TIERS: {exc}") from None
        if not tiers or any(not t for t in tiers):
            raise ConfigError("BEHALF_WEBHOOK_RETRY_TIERS needs at least one tier, e.g. 5s,1m")
        if len(set(tiers)) != len(tiers):
            raise ConfigError("BEHALF_WEBHOOK_RETRY_TIERS names a tier twice (one topic per tier)")
        return cls(
            host=HostSettings.from_env(
                env,
                default_grpc_port=50053,
                default_metrics_port=9103,
                default_max_receive_bytes=4 * 1024 * 1024,
                default_max_concurrent_rpcs=200,
            ),
            kafka=KafkaSettings.from_env(env),
            database_url=env.str("BEHALF_DATABASE_URL"),
            registry_target=env.str("BEHALF_REGISTRY_INTERNAL_TARGET", "127.0.0.1:50054"),
            service_token=env.secret("BEHALF_DISPATCHER_TOKEN", min_length=32),
            retry_tiers=tiers,
            retry_after_cap_seconds=cap,
            delivery=DeliverySettings(
                connect_timeout_seconds=env.float(
                    "BEHALF_WEBHOOK_CONNECT_TIMEOUT_SECONDS", 15.0, minimum=0.01
                ),
                total_timeout_seconds=env.float(
                    "BEHALF_WEBHOOK_TIMEOUT_SECONDS", 15.0, minimum=0.01
                ),
                endpoint_concurrency=env.int(
                    "BEHALF_WEBHOOK_ENDPOINT_CONCURRENCY", 8, minimum=1, maximum=1000
                ),
                endpoint_rate_per_second=env.float("BEHALF_WEBHOOK_ENDPOINT_RATE", 0.0),
                endpoint_burst=env.int("BEHALF_WEBHOOK_ENDPOINT_BURST", 50, minimum=1),
                endpoint_queue_limit=env.int(
                    "BEHALF_WEBHOOK_ENDPOINT_QUEUE_LIMIT", 256, minimum=1, maximum=100_000
                ),
                stall_seconds=env.float("BEHALF_WEBHOOK_STALL_SECONDS", 1.0, minimum=0.01),
                breaker_threshold=env.int(
                    "BEHALF_WEBHOOK_BREAKER_FAILURES", 5, minimum=1, maximum=10_000
                ),
                breaker_cooldown_seconds=env.float(
                    "BEHALF_WEBHOOK_BREAKER_COOLDOWN_SECONDS", 5.0, minimum=0.01
                ),
                reclaim_after_seconds=env.float(
                    "BEHALF_WEBHOOK_RECLAIM_AFTER_SECONDS", 30.0, minimum=1.0
                ),
                allow_private_targets=env.bool("BEHALF_WEBHOOK_ALLOW_PRIVATE_TARGETS", False),
            ),
            consumer_group=env.str("BEHALF_DISPATCHER_GROUP", "behalf-dispatcher"),
            target_cache_seconds=env.float("BEHALF_WEBHOOK_TARGET_CACHE_SECONDS", 60.0),
            disable_after_failing_seconds=env.float(
                "BEHALF_WEBHOOK_DISABLE_AFTER_FAILING_SECONDS", 86400.0
            ),
            max_in_flight=env.int("BEHALF_DISPATCHER_MAX_IN_FLIGHT", 1000, minimum=1),
            channel_tls=channel_tls_from_env(env),
            health_report_seconds=env.float(
                "BEHALF_WEBHOOK_HEALTH_REPORT_SECONDS", 10.0, minimum=0.05, maximum=30.0
            ),
            retention=_days(env.int("BEHALF_WEBHOOK_RETENTION_DAYS", 30, maximum=36_600)),
        )


def _days(days: int) -> timedelta | None:
    """A retention in days; 0 keeps for ever."""
    return timedelta(days=days) if days else None
