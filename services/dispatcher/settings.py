"""Dispatcher settings from the environment."""

from __future__ import annotations

from dataclasses import dataclass

from behalf.common.config import Env
from behalf.common.settings import HostSettings, KafkaSettings


@dataclass(frozen=True)
class DispatcherSettings:
    """Everything the dispatcher process needs."""

    host: HostSettings
    kafka: KafkaSettings
    database_url: str
    registry_target: str
    service_token: str

    @classmethod
    def from_env(cls, env: Env) -> DispatcherSettings:
        return cls(
            host=HostSettings.from_env(env, default_grpc_port=50053, default_metrics_port=9103),
            kafka=KafkaSettings.from_env(env),
            database_url=env.str("BEHALF_DATABASE_URL"),
            registry_target=env.str("BEHALF_REGISTRY_TARGET", "127.0.0.1:50051"),
            service_token=env.secret("BEHALF_SERVICE_TOKEN"),
        )
