"""The PrometheusRule and the Grafana dashboard: structure, runbooks, and the metrics they read."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / "deploy" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


monitoring = _load("deploy_monitoring")
crds = _load("operator_crds")


@pytest.fixture(scope="module")
def rule() -> dict:
    return monitoring.load_rule()


# --- PromQL metric names -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up", {"up"}),
        ('sum(rate(a_total{reason="X"}[5m])) > 0', {"a_total"}),
        (
            'histogram_quantile(0.99, sum by (le) (rate(h_bucket{method=~"A|B"}[5m])))',
            {"h_bucket"},
        ),
        ("scalar(max(head offset 1m)) - max by (namespace, pod) (rev) > 0", {"head", "rev"}),
        ("max(a) - on() group_right(pod) b unless c or d and bool e", {"a", "b", "c", "d", "e"}),
        ("sum(x) by (job) / ignoring(code) sum without (le) (y)", {"x", "y"}),
        ('sum(rate(m{namespace=~"$namespace"}[$__rate_interval]))', {"m"}),
        ('count(z{l="rate(fake_metric[5m])"})', {"z"}),
        ("topk(10, max by (tenant_id) (k)) > 1e3", {"k"}),
        ("rate(ns:colon_metric:sum[1h:5m]) * 2", {"ns:colon_metric:sum"}),
        ('label_replace(v, "dst", "$1", "src", "(.*)")', {"v"}),
    ],
    ids=[
        "bare",
        "matchers",
        "histogram",
        "offset-scalar",
        "keywords",
        "grouping",
        "grafana-variables",
        "metric-like-string",
        "topk-number",
        "recording-rule-name",
        "function-strings",
    ],
)
def test_metric_names_are_the_identifiers_that_name_series(expr: str, names: set[str]) -> None:
    """Metric names are found; functions, keywords, labels, strings and durations are not."""
    assert monitoring.metric_names(expr) == names


def test_prometheus_client_series_names() -> None:
    """A counter exposes _total and _created, a histogram _bucket, _sum, _count and _created."""
    assert monitoring.series_names("counter", "x_total") == {"x_total", "x_created"}
    assert monitoring.series_names("counter", "x") == {"x_total", "x_created"}
    assert "h_bucket" in monitoring.series_names("histogram", "h")
    assert monitoring.series_names("gauge", "g") == {"g"}


# --- the rule file ---------------------------------------------------------------------------


def test_rule_file_is_a_prometheus_rule(rule: dict) -> None:
    """The file is one PrometheusRule whose groups hold alerts with expr, for, labels and
    annotations, and prometheus-operator's CRD schema accepts it."""
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    groups = rule["spec"]["groups"]
    assert len({g["name"] for g in groups}) == len(groups)
    for group in groups:
        assert group["rules"]
        for alert in group["rules"]:
            assert set(alert) <= {"alert", "expr", "for", "labels", "annotations"}
            assert alert["alert"].startswith("Behalf") and alert["expr"].strip()
    try:
        assert crds.problems(rule) == []
    except crds.FetchFailed as exc:
        pytest.skip(f"CRDs not fetched: {exc}")


def test_the_issue_s_alerts_are_there(rule: dict) -> None:
    """Audit, stale or behind verifiers, propagation, webhooks, consumer lag and outbox each
    have an alert."""
    names = {a["alert"] for a in monitoring.alerts(rule)}
    assert {
        "BehalfAuditUnavailable",
        "BehalfAuditPublishFailures",
        "BehalfAuditSinkLagging",
        "BehalfVerifierStale",
        "BehalfVerifierBehindRevision",
        "BehalfPolicyPropagationSlow",
        "BehalfWebhookFailureRateHigh",
        "BehalfWebhookDeadLetters",
        "BehalfWebhookEndpointDeadLetters",
        "BehalfConsumerLagHigh",
        "BehalfOutboxBacklog",
    } <= names


def test_every_alert_has_a_runbook_heading_in_the_operations_doc(rule: dict) -> None:
    """Each runbook_url is docs/operations.md#<anchor> and the anchor is one of its headings."""
    anchors = monitoring.doc_anchors()
    assert monitoring.rule_problems(rule, anchors) == []
    for alert in monitoring.alerts(rule):
        assert alert["annotations"]["runbook_url"].endswith("#" + alert["alert"].lower())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda a: a["annotations"].update(runbook_url="https://x/docs/operations.md#nowhere"),
            "#nowhere",
        ),
        (
            lambda a: a["annotations"].update(runbook_url="https://x/wiki#behalfoutboxbacklog"),
            "must point",
        ),
        (lambda a: a["annotations"].pop("runbook_url"), "must point"),
        (lambda a: a["labels"].update(severity="critical"), "severity"),
        (lambda a: a["annotations"].pop("summary"), "summary"),
    ],
    ids=["unknown-anchor", "other-page", "no-runbook", "unrouted-severity", "no-summary"],
)
def test_rule_check_rejects_a_broken_alert(rule: dict, change, message: str) -> None:
    """An alert without a runbook heading, a routed severity or a summary fails the check."""
    broken = copy.deepcopy(rule)
    change(broken["spec"]["groups"][0]["rules"][0])
    problems = monitoring.rule_problems(broken, monitoring.doc_anchors())
    assert any(message in p for p in problems), problems


def test_github_anchors() -> None:
    """Headings become GitHub's anchors: lower case, punctuation dropped, spaces hyphenated."""
    assert monitoring.github_anchor("BehalfOutboxBacklog") == "behalfoutboxbacklog"
    assert monitoring.github_anchor("Staleness and audit: the fail-closed settings") == (
        "staleness-and-audit-the-fail-closed-settings"
    )
    assert monitoring.github_anchor("What `deploy/` holds") == "what-deploy-holds"


# --- metrics they read -------------------------------------------------------------------------


def test_every_metric_read_is_defined_by_a_service_or_the_operators() -> None:
    """Rules and panels read only metrics the services define (statically, from their
    prometheus_client calls) or the operators overlay exports."""
    known = monitoring.service_metric_names() | monitoring.platform_metrics()
    assert monitoring.unknown_metrics(known) == []
    used = monitoring.referenced_metrics()
    assert "behalf_verifier_decisions_total" in used and "kafka_consumergroup_lag" in used


def test_an_invented_metric_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A panel that reads a metric nothing exports fails the check, naming the panel."""
    dashboard = json.loads(monitoring.DASHBOARD_FILE.read_text())
    dashboard["panels"][1]["targets"][0]["expr"] = "rate(behalf_made_up_total[5m])"
    path = tmp_path / "dashboard.json"
    path.write_text(json.dumps(dashboard))
    monkeypatch.setattr(monitoring, "DASHBOARD_FILE", path)
    known = monitoring.service_metric_names() | monitoring.platform_metrics()
    (problem,) = monitoring.unknown_metrics(known)
    assert "behalf_made_up_total" in problem and "Decisions by outcome" in problem


def test_cnpg_custom_query_metric_names() -> None:
    """CloudNativePG names a custom query's metric cnpg_<query>_<column>; labels are not metrics."""
    assert set(monitoring.cnpg_metrics()) == {
        "cnpg_behalf_outbox_unpublished",
        "cnpg_behalf_outbox_oldest_unpublished_seconds",
        "cnpg_behalf_policy_revision",
        "cnpg_behalf_webhook_dead_deliveries",
        "cnpg_behalf_webhook_endpoint_attempts",
        "cnpg_behalf_webhook_endpoint_failures",
        "cnpg_behalf_webhook_endpoint_breaker_state",
    }


def test_dashboard_is_grafana_json_with_a_datasource_variable() -> None:
    """The dashboard parses, has a uid, unique panel ids, and every query uses the datasource
    variable rather than a fixed data source."""
    dashboard = json.loads(monitoring.DASHBOARD_FILE.read_text())
    assert dashboard["uid"] == "behalf-overview"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}"
            assert target["expr"].count("(") == target["expr"].count(")")
    assert len(monitoring.dashboard_expressions()) >= 20
