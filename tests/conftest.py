"""Settings for the whole test session."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# The suite shares two cores with PostgreSQL, Kafka and the services under test: property tests
# judge behaviour, never speed, so no per-example deadline and no "generation too slow" check.
settings.register_profile("behalf", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("behalf")
