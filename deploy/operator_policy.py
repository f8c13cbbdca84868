"""Our rules for the operators overlay: topics, Kafka identities and ACLs, database roles.

The topics and ACLs are compared with their one other statement in the repository, which the
integration tests run: `Topics` in behalf.common.kafka (every topic a service uses) and the
ACL set `deploy/local/kafka.sh` grants (tests/integration/test_kafka_sasl_ssl.py runs a whole
stack under it, without CREATE).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from behalf.common.kafka import Topics

REPO = Path(__file__).resolve().parent.parent
KAFKA_SCRIPT = REPO / "deploy/local/kafka.sh"
PREFIX = "behalf"  # BEHALF_TOPIC_PREFIX in the base
DISPATCHER_GROUP = "behalf-dispatcher"  # BEHALF_DISPATCHER_GROUP's default
PARTITIONS = 24
REPLICAS = 3
DAY_MS = 24 * 3600 * 1000
RETENTION_DAYS = {"webhooks.dead": 30}  # docs/operations.md; every other topic: 7
KAFKA_SERVICES = ("registry", "verifier", "dispatcher")
PG_SERVICES = {
    "registry": "BEHALF_DATABASE_URL",
    "dispatcher": "BEHALF_DATABASE_URL",
    "console": "BEHALF_CONSOLE_DATABASE_URL",
}
_STRIMZI_TYPES = {"topic": "TOPIC", "group": "GROUP", "transactionalId": "TRANSACTIONAL_ID"}
_STRIMZI_PATTERNS = {"literal": "LITERAL", "prefix": "PREFIXED"}


def _kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == kind]


def trust_model_acls(prefix: str = PREFIX, group: str = DISPATCHER_GROUP) -> set[tuple[str, ...]]:
    """(principal, type, pattern, name, operation) of kafka.sh's service ACLs, no CREATE."""
    text = KAFKA_SCRIPT.read_text()
    body = re.search(r"service_acls\(\) \{.*?<<EOF\n(.*?)\nEOF", text, flags=re.DOTALL)
    if body is None:
        raise ValueError(f"no service_acls heredoc in {KAFKA_SCRIPT}")
    lines = body.group(1).replace("$p", prefix).replace("$g", group).splitlines()
    return {tuple(line.split()) for line in lines if line.strip()}


def user_acls(user: dict[str, Any]) -> set[tuple[str, ...]]:
    principal = f"User:{user['metadata']['name']}"
    found = set()
    for acl in user.get("spec", {}).get("authorization", {}).get("acls", []):
        resource = acl["resource"]
        kind = _STRIMZI_TYPES.get(resource["type"], resource["type"])
        pattern = _STRIMZI_PATTERNS[resource.get("patternType", "literal")]
        for operation in acl.get("operations", []):
            found.add((principal, kind, pattern, resource["name"], operation.upper()))
    return found


def topic_problems(objects: list[dict[str, Any]]) -> list[str]:
    problems = []
    topics = {
        t["spec"].get("topicName", t["metadata"]["name"]): t for t in _kind(objects, "KafkaTopic")
    }
    expected = Topics(PREFIX).all()
    for name in expected:
        topic = topics.get(name)
        if topic is None:
            problems.append(f"no KafkaTopic for {name}")
            continue
        spec, config = topic["spec"], topic["spec"].get("config", {})
        days = RETENTION_DAYS.get(name.removeprefix(f"{PREFIX}."), 7)
        if spec.get("partitions") != PARTITIONS or spec.get("replicas") != REPLICAS:
            problems.append(f"KafkaTopic {name}: {PARTITIONS} partitions, {REPLICAS} replicas")
        if int(config.get("retention.ms", -1)) != days * DAY_MS:
            problems.append(f"KafkaTopic {name}: retention.ms must be {days} days")
        if int(config.get("min.insync.replicas", 0)) < 2:
            problems.append(f"KafkaTopic {name}: min.insync.replicas must be at least 2")
        if config.get("cleanup.policy", "delete") != "delete":
            problems.append(f"KafkaTopic {name}: cleanup.policy must be delete")
    problems += [
        f"KafkaTopic {n} is used by no service" for n in sorted(set(topics) - set(expected))
    ]
    return problems


def kafka_problems(objects: list[dict[str, Any]]) -> list[str]:
    problems = []
    clusters = _kind(objects, "Kafka")
    if len(clusters) != 1:
        return [f"expected one Kafka, found {len(clusters)}"]
    (kafka,) = clusters
    name = kafka["metadata"]["name"]
    pools = [
        p
        for p in _kind(objects, "KafkaNodePool")
        if p["metadata"].get("labels", {}).get("strimzi.io/cluster") == name
    ]
    roles = {r for p in pools for r in p["spec"].get("roles", [])}
    if roles != {"broker", "controller"}:
        problems.append(
            f"Kafka {name}: KRaft needs node pools with the controller and broker roles"
        )
    if "kafkaExporter" not in kafka["spec"]:
        problems.append(f"Kafka {name}: the Kafka Exporter (consumer lag for the alerts) is off")
    if kafka["spec"]["kafka"].get("authorization", {}).get("type") != "simple":
        problems.append(f"Kafka {name}: an authorizer must enforce the ACLs")
    listeners = kafka["spec"]["kafka"].get("listeners", [])
    for listener in listeners:
        if (
            not listener.get("tls")
            or listener.get("authentication", {}).get("type") != "scram-sha-512"
        ):
            problems.append(
                f"Kafka {name}: listener {listener['name']} must be TLS with SCRAM-SHA-512"
            )
    expected = trust_model_acls()
    users = {u["metadata"]["name"]: u for u in _kind(objects, "KafkaUser")}
    granted = set().union(*(user_acls(u) for u in users.values())) if users else set()
    for acl in sorted(expected - granted):
        problems.append(f"KafkaUser ACLs lack {' '.join(acl)}")
    for acl in sorted(granted - expected):
        problems.append(f"KafkaUser ACLs grant {' '.join(acl)}, which the trust model does not")
    for user in users.values():
        if user["spec"].get("authentication", {}).get("type") != "scram-sha-512":
            problems.append(f"KafkaUser {user['metadata']['name']}: SCRAM-SHA-512 authentication")
    return problems


def _container_env(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {v["name"]: v for v in container.get("env", [])}


def identity_problems(objects: list[dict[str, Any]], config: dict[str, str]) -> list[str]:
    """Each service connects as itself: its KafkaUser and its database role, its own Secret."""
    problems = []
    deployments = {d["metadata"]["name"]: d for d in _kind(objects, "Deployment")}
    users = {u["metadata"]["name"] for u in _kind(objects, "KafkaUser")}
    if config.get("BEHALF_KAFKA_SECURITY_PROTOCOL") != "SASL_SSL":
        problems.append("behalf-config: BEHALF_KAFKA_SECURITY_PROTOCOL must be SASL_SSL")
    for service in KAFKA_SERVICES:
        env = _container_env(deployments[f"behalf-{service}"])
        user = env.get("BEHALF_KAFKA_USERNAME", {}).get("value")
        secret = env.get("BEHALF_KAFKA_PASSWORD", {}).get("valueFrom", {}).get("secretKeyRef", {})
        if user != f"behalf-{service}" or user not in users:
            problems.append(
                f"behalf-{service}: BEHALF_KAFKA_USERNAME must be its KafkaUser behalf-{service}"
            )
        if secret.get("name") != user or secret.get("key") != "password":
            problems.append(
                f"behalf-{service}: BEHALF_KAFKA_PASSWORD must come from Secret {user}/password"
            )
    (cluster,) = _kind(objects, "Cluster") or [None]
    if cluster is None:
        return [*problems, "no CloudNativePG Cluster"]
    name = cluster["metadata"]["name"]
    owner = cluster["spec"]["bootstrap"]["initdb"]["owner"]
    secrets = {owner: f"{name}-app"} | {
        r["name"]: r.get("passwordSecret", {}).get("name")
        for r in cluster["spec"].get("managed", {}).get("roles", [])
    }
    sql = "\n".join(cluster["spec"]["bootstrap"]["initdb"].get("postInitApplicationSQL", []))
    for service, variable in PG_SERVICES.items():
        env = _container_env(deployments[f"behalf-{service}"])
        url = urlsplit(str(env.get(variable, {}).get("value", "")))
        role = f"behalf_{service}"
        password = env.get("PGPASSWORD", {}).get("valueFrom", {}).get("secretKeyRef", {})
        if url.username != role or url.hostname != f"{name}-rw" or url.password:
            problems.append(
                f"behalf-{service}: {variable} must be role {role} at {name}-rw, no password"
            )
        if "sslmode=verify-full" not in url.query:
            problems.append(
                f"behalf-{service}: {variable} must verify the server (sslmode=verify-full)"
            )
        if role not in secrets or password.get("name") != secrets[role]:
            problems.append(
                f"behalf-{service}: PGPASSWORD must come from {role}'s Secret {secrets.get(role)}"
            )
        if f"CREATE SCHEMA {service} AUTHORIZATION {role}" not in sql:
            problems.append(f"Cluster {name}: schema {service} must belong to {role}")
    return problems
