"""deploy/ passes its offline checks, and each check fails on a deliberately broken file."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def _load_checks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_checks", REPO / "deploy/deploy_checks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["deploy_checks"] = module
    spec.loader.exec_module(module)
    return module


checks = _load_checks()
CheckFailed = checks.CheckFailed


def _require(tool: str) -> None:
    finders = {
        "kustomize": checks.kustomize_bin,
        "hadolint": checks.hadolint_bin,
        "compose": checks.compose_command,
    }
    try:
        finders[tool]()
    except checks.ToolMissing as exc:
        pytest.skip(f"tool missing: {exc}")


@pytest.fixture
def kustomize() -> None:
    _require("kustomize")


@pytest.fixture
def hadolint() -> None:
    _require("hadolint")


@pytest.fixture
def compose() -> None:
    _require("compose")


# --- our files pass ----------------------------------------------------------------------


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_overlay_builds_validates_and_follows_policy(kustomize: None, overlay: str) -> None:
    """Each overlay builds, validates strictly against the pinned schemas and meets our rules."""
    objects = checks.kustomize_build(REPO / overlay)
    checks.validate_schemas(objects, overlay)
    checks.check_policy(objects, overlay, suite=True)
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert ("HorizontalPodAutoscaler", "behalf-verifier") in kinds
    assert {n for k, n in kinds if k == "PodDisruptionBudget"} == {
        "behalf-registry",
        "behalf-verifier",
        "behalf-dispatcher",
        "behalf-console",
    }
    assert ("Service", "behalf-console") in kinds
    assert ("NetworkPolicy", "behalf-registry-internal") in kinds


def test_dev_overlay_generates_the_secret_and_production_does_not(kustomize: None) -> None:
    """Only the dev overlay carries secret values; production expects the cluster's Secret."""
    dev = checks.kustomize_build(REPO / "deploy/k8s/overlays/dev")
    production = checks.kustomize_build(REPO / "deploy/k8s/overlays/production")
    dev_secrets = [o for o in dev if o["kind"] == "Secret"]
    assert len(dev_secrets) == 1
    assert dev_secrets[0]["metadata"]["name"].startswith("behalf-secrets-")
    assert not [o for o in production if o["kind"] == "Secret"]


@pytest.mark.parametrize("directory", checks.EXAMPLES)
def test_envoy_example_builds_validates_and_fails_closed(kustomize: None, directory: str) -> None:
    """Each sidecar example builds, validates, and its Envoy config parses as fail-closed."""
    objects = checks.kustomize_build(REPO / directory)
    checks.validate_schemas(objects, directory)
    checks.check_policy(objects, directory, suite=False)
    checks.check_example_envoy(objects, directory)


def _credentials(objects: list[dict]) -> dict[str, set[str]]:
    """Per container of the example's Deployment, the BEHALF_*TOKEN variables it holds."""
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    return {
        c["name"]: {v["name"] for v in c.get("env", []) if v["name"].endswith("TOKEN")}
        for c in [*pod.get("initContainers", []), *pod["containers"]]
    }


def test_application_pod_holds_no_internal_credential(kustomize: None) -> None:
    """The Envoy example's pod holds only its verify key (from orders-behalf-api-key); the
    verifier-in-the-pod variant adds the verifier identity's credential to that container only."""
    plain, variant = (_credentials(checks.kustomize_build(REPO / d)) for d in checks.EXAMPLES)
    assert set(plain) == {"render-envoy-config", "app", "envoy"}
    assert not set().union(*plain.values())
    assert variant.pop("behalf-verifier") == {"BEHALF_VERIFIER_TOKEN"}
    assert not set().union(*variant.values())


def test_policy_rejects_an_internal_credential_in_the_application_pod(kustomize: None) -> None:
    """A service credential in a container that is not that service fails the example check."""
    directory = checks.EXAMPLES[0]
    objects = checks.kustomize_build(REPO / directory)
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    envoy = deployment["spec"]["template"]["spec"]["containers"][1]
    envoy.setdefault("env", []).append({"name": "BEHALF_VERIFIER_TOKEN", "value": "x" * 40})
    with pytest.raises(CheckFailed, match="holds BEHALF_VERIFIER_TOKEN"):
        checks.check_policy(objects, directory, suite=False)


def test_dockerfile_lints_clean(hadolint: None) -> None:
    """hadolint finds nothing in the Dockerfile, and every service target meets our rules."""
    checks.lint_dockerfile(REPO / checks.DOCKERFILE, REPO / checks.HADOLINT_CONFIG)


def test_compose_file_validates(compose: None) -> None:
    """docker compose accepts the compose file, and every service has its settings."""
    checks.validate_compose(REPO / checks.COMPOSE_FILE)


def test_validate_script_passes(kustomize: None, hadolint: None, compose: None) -> None:
    """deploy/validate.sh runs every check and exits 0."""
    result = subprocess.run(
        ["bash", str(REPO / "deploy/validate.sh")],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("\nok ") + result.stdout.startswith("ok ") == 9


def test_pyproject_lists_every_package() -> None:
    """The non-editable installs in the images get every package the services import."""
    checks.check_workspace_packaging(REPO)


def test_packaging_check_rejects_an_unlisted_package(tmp_path: Path) -> None:
    """A subpackage missing from `packages` (present only in editable installs) fails."""
    (tmp_path / "behalf/registry/store").mkdir(parents=True)
    (tmp_path / "behalf/registry/__init__.py").write_text("")
    (tmp_path / "behalf/registry/store/__init__.py").write_text("")
    (tmp_path / "pyproject.toml").write_text('[tool.setuptools]\npackages = ["behalf.registry"]\n')
    with pytest.raises(CheckFailed, match=r"behalf\.registry\.store"):
        checks.check_packaging(tmp_path / "pyproject.toml")


# --- broken Kubernetes manifests fail ----------------------------------------------------


def _overlay(tmp_path: Path, patches: list[dict] | None = None, base: str = "dev") -> Path:
    """A kustomization in tmp_path on top of one of our overlays, with JSON patches."""
    relative = os.path.relpath(REPO / "deploy/k8s/overlays" / base, tmp_path)
    kustomization = {"resources": [relative], "patches": patches or []}
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return tmp_path


def _patch(kind: str, name: str, *ops: dict) -> dict:
    return {"target": {"kind": kind, "name": name}, "patch": yaml.safe_dump(list(ops))}


VERIFIER = "/spec/template/spec/containers/0"


def test_kustomize_build_fails_on_a_missing_resource(kustomize: None, tmp_path: Path) -> None:
    """A kustomization naming a file that does not exist fails the build."""
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - nowhere.yaml\n")
    with pytest.raises(CheckFailed, match="kustomize build"):
        checks.kustomize_build(tmp_path)


@pytest.mark.parametrize(
    ("op", "message"),
    [
        ({"op": "add", "path": f"{VERIFIER}/livenessProbe/grpcc", "value": {}}, "grpcc"),
        ({"op": "replace", "path": "/spec/minReadySeconds", "value": "soon"}, "minReadySeconds"),
        ({"op": "add", "path": "/spec/template/spec/hostnetwork", "value": True}, "hostnetwork"),
    ],
    ids=["misspelt-field", "wrong-type", "wrong-case"],
)
def test_schema_rejects_a_broken_deployment(
    kustomize: None, tmp_path: Path, op: dict, message: str
) -> None:
    """Strict schema validation rejects unknown fields and wrong types."""
    ops = [op] if op["op"] == "add" else [{"op": "add", "path": op["path"], "value": 0}, op]
    directory = _overlay(tmp_path, [_patch("Deployment", "behalf-verifier", *ops)])
    objects = checks.kustomize_build(directory)
    with pytest.raises(CheckFailed, match=message):
        checks.validate_schemas(objects, "broken")


def test_schema_rejects_an_unknown_api_version(kustomize: None, tmp_path: Path) -> None:
    """An object whose kind/apiVersion has no schema fails instead of passing unchecked."""
    op = {"op": "replace", "path": "/apiVersion", "value": "autoscaling/v3"}
    directory = _overlay(tmp_path, [_patch("HorizontalPodAutoscaler", "behalf-verifier", op)])
    with pytest.raises(CheckFailed, match="Couldn't find schema"):
        checks.validate_schemas(checks.kustomize_build(directory), "broken")


@pytest.mark.parametrize(
    ("kind", "name", "ops", "message"),
    [
        (
            "Deployment",
            "behalf-verifier",
            [
                {
                    "op": "replace",
                    "path": f"{VERIFIER}/securityContext/readOnlyRootFilesystem",
                    "value": False,
                }
            ],
            "readOnlyRootFilesystem",
        ),
        (
            "Deployment",
            "behalf-registry",
            [{"op": "remove", "path": f"{VERIFIER}/securityContext/capabilities"}],
            "drop ALL",
        ),
        (
            "Deployment",
            "behalf-dispatcher",
            [{"op": "remove", "path": "/spec/template/spec/securityContext/runAsNonRoot"}],
            "runAsNonRoot",
        ),
        (
            "Deployment",
            "behalf-verifier",
            [
                {
                    "op": "replace",
                    "path": f"{VERIFIER}/readinessProbe",
                    "value": {"tcpSocket": {"port": 50052}},
                }
            ],
            "readinessProbe must be a grpc probe",
        ),
        (
            "Deployment",
            "behalf-verifier",
            [{"op": "remove", "path": f"{VERIFIER}/resources/limits"}],
            "resources.limits",
        ),
        (
            "Deployment",
            "behalf-verifier",
            [
                {
                    "op": "add",
                    "path": f"{VERIFIER}/env/-",
                    "value": {"name": "BEHALF_STALENES_BOUND_SECONDS", "value": "5"},
                }
            ],
            "BEHALF_STALENES_BOUND_SECONDS is read by no service",
        ),
        (
            "Deployment",
            "behalf-verifier",
            [
                {
                    "op": "add",
                    "path": f"{VERIFIER}/env/-",
                    "value": {"name": "BEHALF_HOST", "value": "127.0.0.1"},
                }
            ],
            "BEHALF_HOST must be 0.0.0.0",
        ),
        (
            "Deployment",
            "behalf-registry",
            [{"op": "remove", "path": f"{VERIFIER}/env/4"}],
            "BEHALF_MASTER_KEY is not set",
        ),
        (
            "Deployment",
            "behalf-registry",
            [
                {
                    "op": "replace",
                    "path": f"{VERIFIER}/env/4/valueFrom/secretKeyRef/key",
                    "value": "masterkey",
                }
            ],
            "needs Secret",
        ),
        (
            "Deployment",
            "behalf-verifier",
            [{"op": "add", "path": "/spec/replicas", "value": 3}],
            "its HPA owns the count",
        ),
        (
            "Deployment",
            "behalf-verifier",
            [{"op": "remove", "path": f"{VERIFIER}/env/2"}],
            "BEHALF_VERIFIER_WORKERS must be set",
        ),
        (
            "Deployment",
            "behalf-verifier",
            [{"op": "replace", "path": f"{VERIFIER}/env/2/value", "value": "4"}],
            "BEHALF_VERIFIER_WORKERS=4 exceeds the CPU limit 2",
        ),
        (
            "Deployment",
            "behalf-verifier",
            [{"op": "remove", "path": "/spec/template/spec/topologySpreadConstraints"}],
            "spread over zones and hosts",
        ),
        (
            "HorizontalPodAutoscaler",
            "behalf-verifier",
            [{"op": "replace", "path": "/spec/scaleTargetRef/name", "value": "behalf-registry"}],
            "HorizontalPodAutoscaler scales behalf-verifier",
        ),
        (
            "PodDisruptionBudget",
            "behalf-verifier",
            [
                {
                    "op": "replace",
                    "path": "/spec/selector/matchLabels/app.kubernetes.io~1name",
                    "value": "nobody",
                }
            ],
            "no PodDisruptionBudget covers behalf-verifier",
        ),
        (
            "Deployment",
            "behalf-console",
            [
                {
                    "op": "replace",
                    "path": f"{VERIFIER}/readinessProbe",
                    "value": {"tcpSocket": {"port": 8080}},
                }
            ],
            "readinessProbe must be GET /healthz on port 8080",
        ),
        (
            "Deployment",
            "behalf-console",
            [
                {
                    "op": "replace",
                    "path": f"{VERIFIER}/livenessProbe/httpGet/path",
                    "value": "/",
                }
            ],
            "livenessProbe must be GET /healthz",
        ),
        (
            "Deployment",
            "behalf-console",
            [{"op": "remove", "path": f"{VERIFIER}/env/4"}],
            "BEHALF_CONSOLE_DATABASE_URL is not set",
        ),
        (
            "Deployment",
            "behalf-console",
            [
                {
                    "op": "replace",
                    "path": f"{VERIFIER}/env/3/valueFrom/secretKeyRef/key",
                    "value": "console-secrett",
                }
            ],
            "BEHALF_CONSOLE_SECRET needs Secret",
        ),
        (
            "PodDisruptionBudget",
            "behalf-console",
            [
                {
                    "op": "replace",
                    "path": "/spec/selector/matchLabels/app.kubernetes.io~1name",
                    "value": "nobody",
                }
            ],
            "no PodDisruptionBudget covers behalf-console",
        ),
        (
            "NetworkPolicy",
            "behalf-registry-internal",
            [{"op": "add", "path": "/spec/ingress/0/from/-", "value": {"namespaceSelector": {}}}],
            "may reach the registry's internal port",
        ),
        (
            "NetworkPolicy",
            "behalf-registry-internal",
            [
                {
                    "op": "add",
                    "path": "/spec/ingress/1/ports/-",
                    "value": {"port": 50054, "protocol": "TCP"},
                }
            ],
            "may reach the registry's internal port",
        ),
        (
            "NetworkPolicy",
            "behalf-registry-internal",
            [
                {
                    "op": "replace",
                    "path": "/spec/podSelector/matchLabels/app.kubernetes.io~1name",
                    "value": "nobody",
                }
            ],
            "no NetworkPolicy restricts who reaches the registry's internal port",
        ),
        (
            "Service",
            "behalf-registry",
            [{"op": "remove", "path": "/spec/ports/1"}],
            "Service behalf-registry must expose port 50054",
        ),
        (
            "Deployment",
            "behalf-verifier",
            [
                {
                    "op": "add",
                    "path": f"{VERIFIER}/env/-",
                    "value": {"name": "BEHALF_DISPATCHER_TOKEN", "value": "x" * 40},
                }
            ],
            "holds BEHALF_DISPATCHER_TOKEN, which is not its own credential",
        ),
        (
            "Deployment",
            "behalf-dispatcher",
            [
                {
                    "op": "add",
                    "path": f"{VERIFIER}/env/-",
                    "value": {
                        "name": "BEHALF_REGISTRY_INTERNAL_TARGET",
                        "value": "behalf-registry:50051",
                    },
                }
            ],
            "BEHALF_REGISTRY_INTERNAL_TARGET must name the registry's internal port",
        ),
    ],
    ids=[
        "writable-root",
        "capabilities-kept",
        "may-run-as-root",
        "tcp-readiness",
        "no-limits",
        "misspelt-setting",
        "loopback-host",
        "no-master-key",
        "missing-secret-key",
        "replicas-fight-hpa",
        "workers-unset",
        "workers-beyond-cpu-limit",
        "no-spread",
        "hpa-wrong-target",
        "pdb-wrong-selector",
        "console-tcp-readiness",
        "console-liveness-path",
        "console-no-database",
        "console-missing-secret-key",
        "console-pdb-wrong-selector",
        "internal-port-from-any-namespace",
        "internal-port-on-the-public-rule",
        "no-internal-policy",
        "service-without-internal-port",
        "foreign-credential",
        "internal-target-on-public-port",
    ],
)
def test_policy_rejects_a_broken_overlay(
    kustomize: None, tmp_path: Path, kind: str, name: str, ops: list[dict], message: str
) -> None:
    """An overlay that breaks one of our rules builds and validates, but fails the policy."""
    directory = _overlay(tmp_path, [_patch(kind, name, *ops)])
    objects = checks.kustomize_build(directory)
    checks.validate_schemas(objects, "broken")
    with pytest.raises(CheckFailed, match=message):
        checks.check_policy(objects, "broken", suite=True)


@pytest.mark.parametrize("service", ["dispatcher", "console"])
def test_policy_requires_every_service(kustomize: None, tmp_path: Path, service: str) -> None:
    """A build without the dispatcher's or the console's Deployment fails the suite rules."""
    directory = _overlay(tmp_path, base="production")
    (directory / "kustomization.yaml").write_text(
        (directory / "kustomization.yaml").read_text()
        + "patches:\n  - patch: |-\n      $patch: delete\n      apiVersion: apps/v1\n"
        f"      kind: Deployment\n      metadata:\n        name: behalf-{service}\n"
    )
    objects = checks.kustomize_build(directory)
    with pytest.raises(CheckFailed, match=f"Deployment behalf-{service} is missing"):
        checks.check_policy(objects, "broken", suite=True)


# --- broken Envoy configuration fails ----------------------------------------------------


def _envoy(tmp_path: Path, old: str, new: str) -> str:
    text = (REPO / "deploy/k8s/examples/envoy-sidecar/envoy.yaml").read_text()
    assert old in text
    broken = text.replace(old, new).replace("__BEHALF_API_KEY__", "bhk_verify_" + "0" * 43)
    (tmp_path / "envoy.yaml").write_text(broken)
    return (tmp_path / "envoy.yaml").read_text()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("failure_mode_allow: false", "failure_mode_allow: true", "fail closed"),
        ("failure_mode_allow: false", "failure_mode_alow: false", "failure_mode_alow"),
        ("- key: authorization", "- key: x-api-key", "initial_metadata must carry"),
        ("static_resources:", "admin: {}\nstatic_resources:", "admin listener"),
        ("timeout: 3s", "timeout: three", "not a valid Envoy bootstrap"),
        ("normalize_path: true", "normalize_path: false", "set normalize_path"),
        ("merge_slashes: true", "merge_slashes: false", "set normalize_path"),
        (
            "path_with_escaped_slashes_action: REJECT_REQUEST",
            "path_with_escaped_slashes_action: KEEP_UNCHANGED",
            "REJECT_REQUEST",
        ),
        (
            "direct_response: { status: 404 }",
            "route: { cluster: app }",
            "route '/' reaches the app unchecked",
        ),
        ("action: issue_refund", "resource_hint: refunds", "route '/refunds' reaches the app"),
        (
            "resource: orders.example.com\n                                  agent_key: required",
            "resource: orders.example.com",
            "route '/invoices' takes the agent the caller names",
        ),
        ("agent_key: required", "agent_key: optional", "takes the agent the caller names"),
    ],
    ids=[
        "fails-open",
        "misspelt-field",
        "no-authorization",
        "admin-exposed",
        "bad-duration",
        "raw-paths",
        "double-slashes",
        "escaped-slashes",
        "caller-chooses-the-action",
        "route-without-action",
        "caller-names-the-agent",
        "agent-key-not-required",
    ],
)
def test_envoy_check_rejects_a_broken_config(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    """The Envoy config check parses with Envoy's own types and insists on failing closed."""
    with pytest.raises(CheckFailed, match=message):
        checks.check_envoy_config(_envoy(tmp_path, old, new), "broken envoy.yaml")


# --- broken Dockerfiles fail -------------------------------------------------------------


def _dockerfile(tmp_path: Path, old: str, new: str) -> Path:
    text = (REPO / checks.DOCKERFILE).read_text()
    assert old in text
    path = tmp_path / "Dockerfile"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("FROM python:3.11-slim-bookworm AS runtime", "FROM python AS runtime", "DL3006"),
        ('ENTRYPOINT ["behalf-verifier"]', "ENTRYPOINT behalf-verifier", "DL3025"),
        ("USER 10001:10001", "USER root", "DL3002"),
        ("WORKDIR /tmp", "RUN cd /tmp", "DL3003"),
    ],
    ids=["untagged-base", "shell-form-entrypoint", "root-user", "cd-in-run"],
)
def test_hadolint_rejects_a_broken_dockerfile(
    hadolint: None, tmp_path: Path, old: str, new: str, message: str
) -> None:
    """hadolint fails the check on a Dockerfile with a known bad practice."""
    path = _dockerfile(tmp_path, old, new)
    with pytest.raises(CheckFailed, match=message):
        checks.lint_dockerfile(path, REPO / checks.HADOLINT_CONFIG)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("USER 10001:10001\n", "", "non-root USER"),
        ('"-addr=127.0.0.1:50052"', '"-addr=127.0.0.1:50051"', "grpc-health-probe on 50052"),
        ('ENTRYPOINT ["behalf-dispatcher"]', 'CMD ["behalf-dispatcher"]', "ENTRYPOINT must be"),
        (
            "WORKDIR /tmp\n",
            "RUN apt-get update && apt-get install -y --no-install-recommends gcc=4:12.2.0-3 "
            "&& rm -rf /var/lib/apt/lists/*\nWORKDIR /tmp\n",
            "build tools in the final image",
        ),
        ("FROM runtime AS registry", "FROM build AS registry", "build tools in the final image"),
        ("FROM runtime AS verifier", "FROM runtime AS verifier-next", "no `verifier` target"),
        ("FROM runtime AS console", "FROM runtime AS web", "no `console` target"),
        ("127.0.0.1:8080/healthz", "127.0.0.1:8081/healthz", "HEALTHCHECK must GET"),
        ('ENTRYPOINT ["behalf-console"]', 'ENTRYPOINT ["behalf-registry"]', "behalf-console"),
    ],
    ids=[
        "no-user",
        "probe-wrong-port",
        "cmd-not-entrypoint",
        "compiler",
        "from-build",
        "no-tgt",
        "no-console",
        "console-health-port",
        "console-entrypoint",
    ],
)
def test_policy_rejects_a_broken_dockerfile(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    """Our Dockerfile rules catch what hadolint lets through."""
    path = _dockerfile(tmp_path, old, new)
    with pytest.raises(CheckFailed, match=message):
        checks.check_dockerfile_policy(path.read_text(), str(path))


# --- broken compose files fail -----------------------------------------------------------


def _compose(tmp_path: Path, old: str, new: str) -> Path:
    text = (REPO / checks.COMPOSE_FILE).read_text()
    assert old in text
    path = tmp_path / "compose.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("    healthcheck:\n", "    healthcheck:\n      tset: []\n", "additional properties"),
        ("stop_grace_period: 45s", "stop_grace_period: [45]", "stop_grace_period"),
        ("condition: service_healthy", "condition: service_happy", "condition value must be"),
        ("  BEHALF_HOST: 0.0.0.0\n", "", "BEHALF_HOST is not set"),
        ("  BEHALF_TOPIC_PREFIX:", "  BEHALF_TOPIC_PREFX:", "BEHALF_TOPIC_PREFX is read by no"),
        ("      BEHALF_MASTER_KEY:", "      MASTER_KEY:", "BEHALF_MASTER_KEY is not set"),
        ("  read_only: true\n", "", "must be read_only"),
    ],
    ids=[
        "unknown-key",
        "wrong-type",
        "bad-condition",
        "no-host",
        "misspelt-setting",
        "no-master-key",
        "writable",
    ],
)
def test_compose_check_rejects_a_broken_file(
    compose: None, tmp_path: Path, old: str, new: str, message: str
) -> None:
    """docker compose config, then our settings rules, fail on a broken compose file."""
    with pytest.raises(CheckFailed, match=message):
        checks.validate_compose(_compose(tmp_path, old, new))


# --- the command line --------------------------------------------------------------------


def test_main_exits_1_when_a_check_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """The script's exit code is 1 when any check fails, 3 when only a tool is missing."""

    def failing() -> None:
        raise CheckFailed("x", ["broken"])

    def missing() -> None:
        raise checks.ToolMissing("no tool")

    monkeypatch.setattr(checks, "checks", lambda: [("a", failing), ("b", missing)])
    assert checks.main([]) == 1
    monkeypatch.setattr(checks, "checks", lambda: [("a", lambda: None), ("b", missing)])
    assert checks.main([]) == 3
    monkeypatch.setattr(checks, "checks", lambda: [("a", lambda: None)])
    assert checks.main([]) == 0
