"""Every metric the alert rules and the Grafana dashboard read exists for real.

Real registry, verifier (two worker processes, as in production: prometheus_client's
multiprocess mode, where a labelled metric appears only once used) and dispatcher on real
PostgreSQL and Kafka. After some traffic, each service's /metrics is scraped and parsed; the
metrics the rules and panels name must be among them, except those the operators overlay
exports (Strimzi's Kafka Exporter; CloudNativePG's custom queries, whose SQL is run here
against the migrated schemas instead).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import asyncpg
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from behalf.v1 import common_pb2
from tests.harness.infra import database_url as with_database
from tests.harness.stack import Stack, start_stack, stop_stack

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _load_monitoring() -> ModuleType:
    path = REPO / "deploy/deploy_monitoring.py"
    spec = importlib.util.spec_from_file_location("deploy_monitoring", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["deploy_monitoring"] = module
    spec.loader.exec_module(module)
    return module


monitoring = _load_monitoring()


@pytest.fixture(scope="module")
async def stack(database_url: str, kafka_bootstrap: str, tmp_path_factory) -> AsyncIterator[Stack]:
    stack = await start_stack(
        database_url,
        kafka_bootstrap,
        tmp_path_factory.mktemp("alert-metrics"),
        verifiers=0,
        dispatcher=True,
    )
    stack.start_verifier(BEHALF_VERIFIER_WORKERS="2")
    yield stack
    await stop_stack(stack)


def _traffic(stack: Stack) -> None:
    """An allow, a deny and an HTTP request, so the verifier's labelled metrics exist."""
    tenant = stack.create_tenant("alerts")
    agent_id, grant = stack.agent_with_grant(tenant)
    allowed = stack.verify_purchase(tenant, agent_id, grant, 100)
    denied = stack.verify_purchase(tenant, agent_id, grant, 10_000_000)
    assert allowed.outcome == common_pb2.OUTCOME_ALLOW
    assert denied.outcome == common_pb2.OUTCOME_DENY
    request = urllib.request.Request(
        f"{stack.verifiers[0].http_url}/v1/verify",
        data=b"{}",
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except urllib.error.HTTPError as error:
        assert error.code == 401


def _exported(metrics_port: int) -> set[str]:
    """Every series name one /metrics page exposes (families without samples included)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names |= monitoring.series_names(family.type, family.name)
        names |= {sample.name for sample in family.samples}
    return names


def test_every_metric_the_rules_and_dashboard_read_is_exported(stack: Stack) -> None:
    """The union of the three services' /metrics holds every service metric the PrometheusRule
    and the dashboard name; what remains is exported by the operators overlay."""
    _traffic(stack)
    assert stack.dispatcher is not None
    processes = [stack.registry, stack.verifiers[0], stack.dispatcher]
    exported = set().union(*(_exported(p.metrics_port) for p in processes))
    referenced = monitoring.referenced_metrics()
    missing = {
        name: sorted(where)
        for name, where in referenced.items()
        if name not in exported and name not in monitoring.platform_metrics()
    }
    assert not missing, json.dumps(missing, indent=1)
    # The check has teeth: the verifier's labelled metrics came from its workers.
    assert {"behalf_verifier_decisions_total", "behalf_http_seconds_bucket"} <= exported
    assert "behalf_webhook_dead_letters_total" in exported


async def test_cnpg_custom_queries_run_against_the_migrated_schemas(stack: Stack) -> None:
    """Each CloudNativePG custom query prepares in the services' database and returns the
    columns its metrics name (so cnpg_behalf_* exist once the overlay runs)."""
    assert stack.dispatcher is not None  # its migrations created the dispatcher schema
    stack.create_tenant("revision")  # one policy mutation, so the head revision is past 0
    queries = yaml.safe_load(monitoring.PG_QUERIES_FILE.read_text())
    conn = await asyncpg.connect(with_database(stack.admin_url, stack.database))
    try:
        for name, query in queries.items():
            statement = await conn.prepare(query["query"])
            columns = {attribute.name for attribute in statement.get_attributes()}
            wanted = {column for mapping in query["metrics"] for column in mapping}
            assert wanted == columns, name
            await statement.fetch()
        (revision,) = await conn.fetchrow(queries["behalf_policy"]["query"])
        assert revision > 0
    finally:
        await conn.close()
