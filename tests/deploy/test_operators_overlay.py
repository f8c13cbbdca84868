"""The operators overlay: Strimzi and CloudNativePG resources validate against their CRDs and
follow our rules; CRD validation and the rules each fail on a deliberately broken overlay."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
OVERLAY = "deploy/k8s/overlays/operators"


def _load_checks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_checks", REPO / "deploy/deploy_checks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["deploy_checks"] = module
    spec.loader.exec_module(module)
    return module


checks = _load_checks()
crds = checks.operator_crds
policy = checks.operator_policy
CheckFailed = checks.CheckFailed


@pytest.fixture(scope="module")
def tools() -> None:
    try:
        checks.kustomize_bin()
        crds.fetch_all()
    except (checks.ToolMissing, crds.FetchFailed) as exc:
        pytest.skip(f"missing: {exc}")


@pytest.fixture(scope="module")
def objects(tools: None) -> list[dict]:
    return checks.kustomize_build(REPO / OVERLAY)


def _broken(tmp_path: Path, kind: str, name: str, *ops: dict) -> list[dict]:
    relative = os.path.relpath(REPO / OVERLAY, tmp_path)
    patch = {"target": {"kind": kind, "name": name}, "patch": yaml.safe_dump(list(ops))}
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump({"resources": [relative], "patches": [patch]})
    )
    return checks.kustomize_build(tmp_path)


def test_overlay_validates_against_the_crds_and_our_rules(objects: list[dict]) -> None:
    """Every object validates (custom resources against their operators' CRDs), and the
    overlay passes the suite's rules and the operators' rules."""
    checks.validate_schemas(objects, OVERLAY)
    checks.check_policy(objects, OVERLAY, suite=True)
    checks.check_operators(objects, OVERLAY)
    kinds = {o["kind"] for o in objects}
    assert {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "Cluster"} <= kinds
    assert {"PrometheusRule", "PodMonitor"} <= kinds


def test_kafka_runs_in_kraft_mode_with_a_topic_per_topic(objects: list[dict]) -> None:
    """KRaft node pools (controllers and brokers, no ZooKeeper) and one KafkaTopic for each of
    the six topics, the dead-letter topic kept 30 days, the others 7."""
    (kafka,) = [o for o in objects if o["kind"] == "Kafka"]
    assert "zookeeper" not in kafka["spec"]
    roles = sorted(r for o in objects if o["kind"] == "KafkaNodePool" for r in o["spec"]["roles"])
    assert roles == ["broker", "controller"]
    topics = {o["spec"]["topicName"]: o["spec"] for o in objects if o["kind"] == "KafkaTopic"}
    assert len(topics) == 6
    assert topics["behalf.webhooks.dead"]["config"]["retention.ms"] == 30 * policy.DAY_MS
    assert topics["behalf.decisions"]["config"]["retention.ms"] == 7 * policy.DAY_MS


def test_kafka_users_hold_exactly_the_trust_model_acls(objects: list[dict]) -> None:
    """The three users' ACLs are the set kafka.sh grants (no CREATE), nothing more."""
    users = [o for o in objects if o["kind"] == "KafkaUser"]
    assert sorted(u["metadata"]["name"] for u in users) == [
        "behalf-dispatcher",
        "behalf-registry",
        "behalf-verifier",
    ]
    granted = set().union(*(policy.user_acls(u) for u in users))
    assert granted == policy.trust_model_acls()
    assert not any("CREATE" in acl for acl in granted)


def test_each_service_has_its_own_database_role_and_secret(objects: list[dict]) -> None:
    """The registry reads CloudNativePG's generated owner secret, the dispatcher and console
    their managed roles' secrets; no URL carries a password."""
    secrets = {}
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        for var in container.get("env", []):
            if var["name"] == "PGPASSWORD":
                secrets[deployment["metadata"]["name"]] = var["valueFrom"]["secretKeyRef"]["name"]
            if var["name"].endswith("DATABASE_URL"):
                assert "valueFrom" not in var and urlsplit(var["value"]).password is None
    assert secrets == {
        "behalf-registry": "behalf-pg-app",
        "behalf-dispatcher": "behalf-pg-dispatcher",
        "behalf-console": "behalf-pg-console",
    }


@pytest.mark.parametrize(
    ("kind", "name", "op", "message"),
    [
        (
            "Kafka",
            "behalf-kafka",
            {"op": "add", "path": "/spec/kafka/replicas", "value": 3},
            "'replicas' was unexpected",
        ),
        (
            "KafkaTopic",
            "behalf-decisions",
            {"op": "replace", "path": "/spec/partitions", "value": "24"},
            "is not of type 'integer'",
        ),
        (
            "KafkaUser",
            "behalf-verifier",
            {"op": "replace", "path": "/spec/authorization/acls/0/operations", "value": ["Writ"]},
            "'Writ' is not one of",
        ),
        (
            "Cluster",
            "behalf-pg",
            {"op": "add", "path": "/spec/bootstrap/initdb/postInitSQLs", "value": []},
            "'postInitSQLs' was unexpected",
        ),
        (
            "PrometheusRule",
            "behalf",
            {"op": "add", "path": "/spec/groups/0/rules/0/for", "value": "two minutes"},
            "does not match",
        ),
    ],
    ids=[
        "kafka-zookeeper-era-field",
        "topic-partitions-string",
        "acl-typo",
        "cnpg-typo",
        "bad-for",
    ],
)
def test_crd_validation_rejects_a_broken_resource(
    tools: None, tmp_path: Path, kind: str, name: str, op: dict, message: str
) -> None:
    """A custom resource its operator's CRD schema would refuse fails validation."""
    with pytest.raises(CheckFailed, match=re.escape(message)):
        checks.validate_schemas(_broken(tmp_path, kind, name, op), "broken")


def test_crd_validation_rejects_an_unserved_version(tools: None, tmp_path: Path) -> None:
    """A custom resource in an API version the pinned CRDs do not serve fails."""
    op = {"op": "replace", "path": "/apiVersion", "value": "kafka.strimzi.io/v1beta1"}
    with pytest.raises(
        CheckFailed, match=re.escape("no CRD serves kafka.strimzi.io/v1beta1 Kafka")
    ):
        checks.validate_schemas(_broken(tmp_path, "Kafka", "behalf-kafka", op), "broken")


@pytest.mark.parametrize(
    ("kind", "name", "op", "message"),
    [
        (
            "KafkaUser",
            "behalf-verifier",
            {"op": "remove", "path": "/spec/authorization/acls/1"},
            "lack User:behalf-verifier TRANSACTIONAL_ID PREFIXED behalf-verifier- WRITE",
        ),
        (
            "KafkaUser",
            "behalf-dispatcher",
            {"op": "add", "path": "/spec/authorization/acls/0/operations/-", "value": "Write"},
            "grant User:behalf-dispatcher TOPIC LITERAL behalf.decisions WRITE",
        ),
        (
            "KafkaUser",
            "behalf-registry",
            {
                "op": "add",
                "path": "/spec/authorization/acls/-",
                "value": {
                    "resource": {"type": "topic", "name": "behalf.", "patternType": "prefix"},
                    "operations": ["Create"],
                },
            },
            "grant User:behalf-registry TOPIC PREFIXED behalf. CREATE",
        ),
        (
            "KafkaTopic",
            "behalf-webhooks-dead",
            {"op": "replace", "path": "/spec/config/retention.ms", "value": 604800000},
            "behalf.webhooks.dead: retention.ms must be 30 days",
        ),
        (
            "KafkaTopic",
            "behalf-lifecycle",
            {"op": "replace", "path": "/spec/topicName", "value": "behalf.lifecycles"},
            "no KafkaTopic for behalf.lifecycle",
        ),
        (
            "Kafka",
            "behalf-kafka",
            {"op": "remove", "path": "/spec/kafkaExporter"},
            "Kafka Exporter",
        ),
        (
            "Deployment",
            "behalf-dispatcher",
            {
                "op": "add",
                "path": "/spec/template/spec/containers/0/env/-",
                "value": {"name": "BEHALF_KAFKA_USERNAME", "value": "behalf-registry"},
            },
            "BEHALF_KAFKA_USERNAME must be its KafkaUser behalf-dispatcher",
        ),
        (
            "Deployment",
            "behalf-console",
            {
                "op": "add",
                "path": "/spec/template/spec/containers/0/env/-",
                "value": {"name": "PGPASSWORD", "value": "x"},
            },
            "PGPASSWORD must come from behalf_console's Secret behalf-pg-console",
        ),
    ],
    ids=[
        "acl-missing",
        "acl-extra",
        "acl-create",
        "dead-letter-retention",
        "topic-missing",
        "no-exporter",
        "borrowed-kafka-user",
        "inline-db-password",
    ],
)
def test_operator_rules_reject_a_broken_overlay(
    tools: None, tmp_path: Path, kind: str, name: str, op: dict, message: str
) -> None:
    """A schema-valid overlay that breaks the trust model or the topic plan fails our rules."""
    objects = _broken(tmp_path, kind, name, op)
    with pytest.raises(CheckFailed, match=re.escape(message)):
        checks.check_operators(objects, "broken")
