"""The alert rules and the Grafana dashboard: their PromQL, the metric names it reads, runbooks.

Every metric a rule or a panel reads must exist: the services' own (defined with
prometheus_client under services/, scraped from /metrics by
tests/integration/test_alert_metrics.py), or one of PLATFORM_METRICS, which the operators
overlay makes exist (Strimzi's Kafka Exporter, CloudNativePG's custom queries).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
MONITORING = REPO / "deploy/k8s/components/monitoring"
RULE_FILE = MONITORING / "prometheus-rule.yaml"
DASHBOARD_FILE = MONITORING / "behalf-dashboard.json"
OPERATIONS_DOC = REPO / "docs/operations.md"
PG_QUERIES_FILE = REPO / "deploy/k8s/overlays/operators/pg-metrics-queries.yaml"
RUNBOOK_PAGE = "docs/operations.md"

# Metrics that are not the services': who exports them in the operators overlay.
KAFKA_EXPORTER_METRICS = frozenset({"kafka_consumergroup_lag"})
SEVERITIES = frozenset({"page", "ticket"})

# PromQL words that look like identifiers but name no metric.
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and"}
    | {"or", "unless", "atan2", "inf", "nan", "start", "end"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_GRAFANA_VARIABLE = re.compile(r"\$(?:\{[^}]*\}|\w+)")
_OFFSET = re.compile(r"\b(offset|@)\s+-?[\w.]+")
_IDENTIFIER = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, keywords, labels left out)."""
    text = _STRING.sub('""', expr)
    text = _GRAFANA_VARIABLE.sub("1", text)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = _LABEL_LIST.sub("", text)
    text = _OFFSET.sub("", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name = match.group(1)
        follows = text[match.end() :].lstrip()
        if follows.startswith("(") or name.lower() in _KEYWORDS:
            continue  # a function or aggregation, or a keyword
        if re.fullmatch(r"\d.*", name):
            continue
        names.add(name)
    return names


# --- the files -----------------------------------------------------------------------------


def load_rule(path: Path | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = yaml.safe_load((path or RULE_FILE).read_text())
    return rule


def alerts(rule: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for group in rule.get("spec", {}).get("groups", []):
        yield from (r for r in group.get("rules", []) if "alert" in r)


def rule_expressions(rule: dict[str, Any]) -> dict[str, str]:
    """Alert (or recording rule) name → its expression."""
    return {
        r.get("alert") or r.get("record"): str(r["expr"])
        for group in rule["spec"]["groups"]
        for r in group["rules"]
    }


def dashboard_expressions(path: Path | None = None) -> dict[str, str]:
    """`panel title/refId` (or `variable name`) → every PromQL query of the dashboard."""
    dashboard = json.loads((path or DASHBOARD_FILE).read_text())
    found: dict[str, str] = {}

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                found[f"{panel.get('title')}/{target.get('refId')}"] = target["expr"]
            walk(panel.get("panels", []))

    walk(dashboard.get("panels", []))
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if variable.get("type") == "query" and isinstance(query, dict):
            found[f"variable {variable['name']}"] = query["query"]
    return found


def referenced_metrics() -> dict[str, set[str]]:
    """Metric name → where it is read (`rule <alert>` or `dashboard <panel>`)."""
    used: dict[str, set[str]] = {}
    sources = {
        **{f"rule {k}": v for k, v in rule_expressions(load_rule()).items()},
        **{f"dashboard {k}": v for k, v in dashboard_expressions().items()},
    }
    for where, expr in sources.items():
        for name in metric_names(_label_values_metric(expr)):
            used.setdefault(name, set()).add(where)
    return used


def _label_values_metric(expr: str) -> str:
    """Grafana's label_values(metric, label) reads `metric`; other queries are PromQL."""
    match = re.fullmatch(r"\s*label_values\(\s*([^,]+),\s*\w+\s*\)\s*", expr)
    return match.group(1) if match else expr


def cnpg_metrics(path: Path | None = None) -> dict[str, str]:
    """cnpg_<query>_<column> → its SQL, for each GAUGE/COUNTER column of the custom queries."""
    queries = yaml.safe_load((path or PG_QUERIES_FILE).read_text())
    found = {}
    for name, query in queries.items():
        for mapping in query["metrics"]:
            ((column, spec),) = mapping.items()
            if spec["usage"] != "LABEL":
                found[f"cnpg_{query.get('name') or name}_{column}"] = query["query"]
    return found


def platform_metrics() -> set[str]:
    return set(KAFKA_EXPORTER_METRICS) | set(cnpg_metrics())


def service_metric_names(services: Path = REPO / "services") -> set[str]:
    """Every series name the services define (prometheus_client suffixes included)."""
    names: set[str] = set()
    pattern = re.compile(r'\b(Counter|Gauge|Histogram|Summary)\(\s*"([a-z_:][a-z0-9_:]*)"')
    for path in services.rglob("*.py"):
        for kind, name in pattern.findall(path.read_text()):
            names |= series_names(kind.lower(), name)
    return names


def series_names(kind: str, name: str) -> set[str]:
    """The names a prometheus_client metric family exposes."""
    base = name.removesuffix("_total") if kind == "counter" else name
    return {
        "counter": {f"{base}_total", f"{base}_created"},
        "gauge": {base},
        "histogram": {f"{base}_bucket", f"{base}_sum", f"{base}_count", f"{base}_created"},
        "summary": {f"{base}_sum", f"{base}_count", f"{base}_created"},
    }.get(kind, {base})


# --- runbooks ------------------------------------------------------------------------------


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def doc_anchors(path: Path | None = None) -> set[str]:
    text = (path or OPERATIONS_DOC).read_text()
    return {
        github_anchor(m.group(1))
        for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*$", text, flags=re.MULTILINE)
    }


def rule_problems(rule: dict[str, Any], anchors: set[str]) -> list[str]:
    """Each alert: a severity we route, a summary, and a runbook that exists in the docs."""
    problems = []
    names = [a["alert"] for a in alerts(rule)]
    problems += [
        f"alert {n} is defined twice" for n in sorted({n for n in names if names.count(n) > 1})
    ]
    for alert in alerts(rule):
        name = alert["alert"]
        if alert.get("labels", {}).get("severity") not in SEVERITIES:
            problems.append(f"{name}: severity must be one of {', '.join(sorted(SEVERITIES))}")
        annotations = alert.get("annotations", {})
        if not annotations.get("summary"):
            problems.append(f"{name}: no summary annotation")
        url = str(annotations.get("runbook_url", ""))
        page, _, anchor = url.partition("#")
        if not page.endswith(RUNBOOK_PAGE) or not anchor:
            problems.append(f"{name}: runbook_url must point at an anchor of {RUNBOOK_PAGE}")
        elif anchor not in anchors:
            problems.append(f"{name}: runbook anchor #{anchor} is not a heading of {RUNBOOK_PAGE}")
    return problems


def unknown_metrics(known: set[str]) -> list[str]:
    """Metrics a rule or panel reads that nothing exports."""
    return [
        f"{name} (read by {', '.join(sorted(where))}) is exported by no service or operator"
        for name, where in sorted(referenced_metrics().items())
        if name not in known
    ]
