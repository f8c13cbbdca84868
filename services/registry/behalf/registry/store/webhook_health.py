"""Webhook endpoint health: each dispatcher's latest report per endpoint, summed on read.

A report replaces the same dispatcher's previous row for that endpoint. Reads count only rows
received within `FRESH`, so a dispatcher that stopped (scaled in, crashed) drops out of the sum
within a minute, and rows older than `KEEP` are deleted with the next report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from behalf.registry.store._rows import Executor, set_time
from behalf.v1 import resources_pb2

FRESH = "interval '1 minute'"
KEEP = "interval '1 hour'"

# One row per endpoint: the sums over its fresh reports (`w` is the webhook_endpoints row).
# The breaker's numbers order its states from open (3) down to closed (1): the most
# restrictive one among the dispatchers wins.
HEALTH_JOIN = f"""LEFT JOIN LATERAL (
    SELECT count(*) AS h_reports,
           sum(attempts)::bigint AS h_attempts,
           sum(successes)::bigint AS h_successes,
           (array_agg(last_error ORDER BY last_error_at DESC NULLS LAST))[1] AS h_last_error,
           (array_agg(last_error_status_code ORDER BY last_error_at DESC NULLS LAST))[1]
               AS h_last_error_status_code,
           max(last_error_at) AS h_last_error_at,
           max(last_success_at) AS h_last_success_at,
           max(breaker_state) AS h_breaker_state,
           max(window_seconds) AS h_window_seconds,
           max(reported_at) AS h_reported_at
    FROM webhook_endpoint_health h
    WHERE h.endpoint_id = w.endpoint_id AND h.reported_at > now() - {FRESH}
) health ON true"""


@dataclass(frozen=True)
class HealthReport:
    """One dispatcher's counts for one endpoint (validated by the caller)."""

    tenant_id: str
    endpoint_id: str
    attempts: int
    successes: int
    last_error: str
    last_error_status_code: int
    last_error_at: datetime | None
    last_success_at: datetime | None
    breaker_state: int
    window_seconds: int


def set_health(endpoint: resources_pb2.WebhookEndpoint, row: asyncpg.Record) -> None:
    """Fill `endpoint.health` from a row read with `HEALTH_JOIN`; unset when nothing is fresh."""
    if not row["h_reports"]:
        return
    health = endpoint.health
    health.attempts = row["h_attempts"]
    health.successes = row["h_successes"]
    health.success_rate = health.successes / health.attempts if health.attempts else 0.0
    health.last_error = row["h_last_error"] or ""
    health.last_error_status_code = row["h_last_error_status_code"] or 0
    set_time(health.last_error_time, row["h_last_error_at"])
    set_time(health.last_success_time, row["h_last_success_at"])
    health.breaker_state = row["h_breaker_state"]
    health.window_seconds = row["h_window_seconds"]
    set_time(health.report_time, row["h_reported_at"])


async def record(conn: Executor, dispatcher_id: str, reports: Sequence[HealthReport]) -> int:
    """Keep the reports whose endpoint is live in its tenant; how many were kept."""
    await conn.execute(f"DELETE FROM webhook_endpoint_health WHERE reported_at < now() - {KEEP}")
    if not reports:
        return 0
    rows = await conn.fetch(
        """INSERT INTO webhook_endpoint_health AS h (
               endpoint_id, dispatcher_id, attempts, successes, last_error,
               last_error_status_code, last_error_at, last_success_at, breaker_state,
               window_seconds, reported_at)
           SELECT r.endpoint_id, $1, r.attempts, r.successes, r.last_error, r.status_code,
                  r.error_at, r.success_at, r.breaker_state, r.window_seconds, now()
           FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[],
                       $7::integer[], $8::timestamptz[], $9::timestamptz[], $10::smallint[],
                       $11::integer[])
                AS r(tenant_id, endpoint_id, attempts, successes, last_error, status_code,
                     error_at, success_at, breaker_state, window_seconds)
           JOIN webhook_endpoints w
             ON w.endpoint_id = r.endpoint_id AND w.tenant_id = r.tenant_id
            AND w.deleted_at IS NULL
           ON CONFLICT (endpoint_id, dispatcher_id) DO UPDATE SET
               attempts = excluded.attempts, successes = excluded.successes,
               last_error = excluded.last_error,
               last_error_status_code = excluded.last_error_status_code,
               last_error_at = excluded.last_error_at, last_success_at = excluded.last_success_at,
               breaker_state = excluded.breaker_state, window_seconds = excluded.window_seconds,
               reported_at = excluded.reported_at
           RETURNING h.endpoint_id""",
        dispatcher_id,
        [r.tenant_id for r in reports],
        [r.endpoint_id for r in reports],
        [r.attempts for r in reports],
        [r.successes for r in reports],
        [r.last_error for r in reports],
        [r.last_error_status_code for r in reports],
        [r.last_error_at for r in reports],
        [r.last_success_at for r in reports],
        [r.breaker_state for r in reports],
        [r.window_seconds for r in reports],
    )
    return len(rows)
