"""Custom resources checked against their operators' own CRD schemas, fetched once and cached.

The CRDs come from package registries only, at pinned versions, into `.cache/crds/` (ignored):

- CloudNativePG: the Go module `github.com/cloudnative-pg/cloudnative-pg` (`config/crd/bases/`),
  through `go mod download`.
- prometheus-operator: the Go module `github.com/prometheus-operator/prometheus-operator`
  (`example/prometheus-operator-crd/`), through `go mod download`.
- Strimzi: the test jar of `io.strimzi:api` on Maven Central (`crds/v1beta2/`, the CRDs the
  release installs: `v1` and `v1beta2` served), through `mvn dependency:get`.

Each CRD version's `openAPIV3Schema` becomes a JSON schema (`nullable` as a `null` type, and
every object that lists its properties closed to others unless it says
`x-kubernetes-preserve-unknown-fields`, as the API server's strict field validation does),
written beside the CRD as JSON, so later runs parse no YAML and need no network. What a
schema cannot say is not checked here: CEL rules (`x-kubernetes-validations`), formats, and
what the operators' admission webhooks refuse.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO = Path(__file__).resolve().parent.parent
# Where the CRDs are kept; tests of a cold fetch point it (and GOMODCACHE, MAVEN_REPO_LOCAL)
# at empty folders.
CACHE = Path(os.environ.get("BEHALF_CRD_CACHE", REPO / ".cache" / "crds"))


@dataclass(frozen=True)
class CrdSource:
    """Pinned CRD files inside one registry package."""

    name: str
    version: str
    kind: str  # "go" (a module zip) or "maven" (a jar)
    package: str
    files: tuple[str, ...]

    @property
    def folder(self) -> Path:
        return CACHE / f"{self.name}-{self.version}"


SOURCES = (
    CrdSource(
        "cloudnative-pg",
        "v1.28.0",
        "go",
        "github.com/cloudnative-pg/cloudnative-pg",
        ("config/crd/bases/postgresql.cnpg.io_clusters.yaml",),
    ),
    CrdSource(
        "prometheus-operator",
        "v0.85.0",
        "go",
        "github.com/prometheus-operator/prometheus-operator",
        (
            "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml",
            "example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml",
        ),
    ),
    CrdSource(
        "strimzi",
        "0.49.0",
        "maven",
        "io.strimzi:api:0.49.0:jar:tests",
        (
            "crds/v1beta2/040-Crd-kafka.yaml",
            "crds/v1beta2/043-Crd-kafkatopic.yaml",
            "crds/v1beta2/044-Crd-kafkauser.yaml",
            "crds/v1beta2/045-Crd-kafkanodepool.yaml",
        ),
    ),
)
GROUPS = frozenset({"postgresql.cnpg.io", "monitoring.coreos.com", "kafka.strimzi.io"})


class FetchFailed(Exception):
    """A CRD source could not be fetched (no tool, no registry); the message says which."""


# --- fetching ------------------------------------------------------------------------------


def _run(command: list[str], env: dict[str, str] | None = None) -> str:
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=600, env=env, check=False
        )
    except FileNotFoundError as exc:
        raise FetchFailed(f"{command[0]} is not installed") from exc
    if result.returncode != 0:
        raise FetchFailed(f"{' '.join(command)}: {(result.stderr or result.stdout).strip()}")
    return result.stdout


def _go_files(source: CrdSource) -> dict[str, bytes]:
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GO111MODULE": "on"}
    out = _run(["go", "mod", "download", "-json", f"{source.package}@{source.version}"], env)
    info = json.loads(out)
    if info.get("Error"):
        raise FetchFailed(f"{source.package}@{source.version}: {info['Error']}")
    root = Path(info["Dir"])
    return {f: (root / f).read_bytes() for f in source.files}


def _maven_files(source: CrdSource) -> dict[str, bytes]:
    group, artifact, version, _packaging, classifier = source.package.split(":")
    local = Path(os.environ.get("MAVEN_REPO_LOCAL", Path.home() / ".m2" / "repository"))
    command = ["mvn", "-q", "-B", "dependency:get", f"-Dartifact={source.package}"]
    _run([*command, "-Dtransitive=false", f"-Dmaven.repo.local={local}"])
    jar = local.joinpath(
        *group.split("."), artifact, version, f"{artifact}-{version}-{classifier}.jar"
    )
    with zipfile.ZipFile(jar) as archive:
        return {f: archive.read(f) for f in source.files}


def fetch(source: CrdSource) -> Path:
    """The source's folder of CRDs and converted schemas, fetched on first use."""
    if (source.folder / "schemas.json").is_file():
        return source.folder
    files = _go_files(source) if source.kind == "go" else _maven_files(source)
    CACHE.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{source.name}-", dir=CACHE))
    try:
        schemas: dict[str, Any] = {}
        for name, text in files.items():
            (staging / Path(name).name).write_bytes(text)
            crd = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            for key, schema in crd_schemas(crd).items():
                schemas[key] = schema
        (staging / "schemas.json").write_text(json.dumps(schemas))
        shutil.rmtree(source.folder, ignore_errors=True)
        staging.rename(source.folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return source.folder


# --- conversion ----------------------------------------------------------------------------


def crd_schemas(crd: dict[str, Any]) -> dict[str, Any]:
    """`group/version/Kind` → JSON schema, for every served version of a CRD."""
    spec = crd["spec"]
    return {
        f"{spec['group']}/{v['name']}/{spec['names']['kind']}": to_json_schema(
            v["schema"]["openAPIV3Schema"]
        )
        for v in spec["versions"]
        if v.get("served", True)
    }


def to_json_schema(node: Any) -> Any:
    """An OpenAPI v3 structural schema as a strict draft-4 JSON schema."""
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: (
            {p: to_json_schema(s) for p, s in v.items()} if k == "properties" else to_json_schema(v)
        )
        for k, v in node.items()
        if k != "description"
    }
    if out.pop("nullable", False):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    open_object = out.get("x-kubernetes-preserve-unknown-fields") is True
    if "properties" in out and "additionalProperties" not in out and not open_object:
        out["additionalProperties"] = False
    return out


# --- validation ----------------------------------------------------------------------------


@cache
def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for source in SOURCES:
        schemas.update(json.loads((fetch(source) / "schemas.json").read_text()))
    return schemas


def handles(obj: dict[str, Any]) -> bool:
    """Whether `obj` is a custom resource of one of the operators here."""
    return str(obj.get("apiVersion", "")).split("/")[0] in GROUPS


def problems(obj: dict[str, Any]) -> list[str]:
    """What is wrong with one custom resource, against its CRD's schema (empty: valid)."""
    name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
    schema = _schemas().get(f"{obj.get('apiVersion')}/{obj.get('kind')}")
    if schema is None:
        return [f"{name}: no CRD serves {obj.get('apiVersion')} {obj.get('kind')}"]
    validator = jsonschema.Draft4Validator(schema)
    found = []
    for error in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in error.absolute_path)
        found.append(f"{name}: {path}: {error.message[:300]}")
    if not obj.get("metadata", {}).get("name"):
        found.append(f"{name}: metadata.name is required")
    return found


def fetch_all() -> list[Path]:
    """Fetch every source not cached yet; the folders that hold them."""
    return [fetch(source) for source in SOURCES]


def describe() -> Iterable[str]:
    """One line per pinned source, for docs and errors."""
    for source in SOURCES:
        yield f"{source.name} {source.version} ({source.kind}: {source.package})"
