"""Prometheus metrics of the dispatcher."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

DELIVERIES = Counter(
    "behalf_webhook_deliveries_total",
    "Delivery steps by outcome: succeeded, retry, dead, deferred (busy endpoint), "
    "parked (failing endpoint: left pending), requeued (a due retry made pending again).",
    ["outcome"],
)
ATTEMPT_SECONDS = Histogram(
    "behalf_webhook_attempt_seconds",
    "Latency of one webhook POST.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30),
)
RETRY_LAG_SECONDS = Histogram(
    "behalf_webhook_retry_lag_seconds",
    "How late a retry task started after its due time.",
    ["tier"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
DEAD_LETTERS = Counter(
    "behalf_webhook_dead_letters_total", "Deliveries parked in the dead-letter topic."
)
SKIPPED = Counter(
    "behalf_webhook_records_skipped_total",
    "Kafka records skipped, each also logged: unreadable or of an unsupported type (event, "
    "retry; no correct producer makes one), or a retry task dropped because its attempt was "
    "never recorded (lost_retry; reclaim offers the delivery again later).",
    ["source"],
)
for _source in ("event", "retry", "lost_retry"):
    SKIPPED.labels(_source)  # each series exists from 0, so the first skip is an increase
REFUSED_WRITES = Counter(
    "behalf_webhook_outcome_writes_refused_total",
    "Delivery outcomes PostgreSQL refused to store as they were, each also logged: stored "
    "without the endpoint's text (without_text), or not at all (dropped; the delivery stays "
    "open and reclaim offers it again).",
    ["stored"],
)
for _stored in ("without_text", "dropped"):
    REFUSED_WRITES.labels(_stored)
