"""`make run` / `make stop`: the whole suite on one machine, with real PostgreSQL and Kafka.

python deploy/local/devstack.py up     # start everything, seed a demo tenant, print usage
python deploy/local/devstack.py down   # stop everything `up` started
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
from google.protobuf import duration_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from behalf.v1 import common_pb2, registry_pb2, registry_pb2_grpc, resources_pb2

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / ".run"
LOGS = RUN / "logs"
SECRETS_FILE = RUN / "devstack.env"
DEMO_FILE = RUN / "demo.json"
PG_PORT = int(os.environ.get("BEHALF_PG_PORT", "55432"))
KAFKA_PORT = int(os.environ.get("BEHALF_KAFKA_PORT", "59092"))
SERVICES = {  # name: (grpc port, metrics port)
    "registry": (50051, 9101),
    "verifier": (50052, 9102),
    "dispatcher": (50053, 9103),
}
REGISTRY_INTERNAL_PORT = 50054  # RegistryInternalService: the verifier and dispatcher only
CONSOLE_PORT = 8080
VERIFIER_HTTP_PORT = 8081  # HTTP/JSON Verify (POST /v1/verify, GET /openapi.json)
# One credential per service identity; each process gets only its own, the registry digests.
TOKENS = {
    "verifier": "BEHALF_VERIFIER_TOKEN",
    "dispatcher": "BEHALF_DISPATCHER_TOKEN",
    "operator": "BEHALF_OPERATOR_TOKEN",
}


def _say(message: str) -> None:
    print(f"==> {message}", flush=True)


def _script(name: str, command: str) -> str:
    env = {
        **os.environ,
        "BEHALF_PG_PORT": str(PG_PORT),
        "BEHALF_KAFKA_PORT": str(KAFKA_PORT),
        "BEHALF_PYTHON": sys.executable,
    }
    result = subprocess.run(
        ["bash", str(REPO / "deploy" / "local" / name), command],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"{name} {command} failed:\n{result.stderr}{result.stdout}")
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def _secrets() -> dict[str, str]:
    """Per-checkout development secrets, made once and kept in .run/ (git-ignored, 0600)."""
    if not SECRETS_FILE.exists():
        RUN.mkdir(parents=True, exist_ok=True)
        SECRETS_FILE.write_text(
            f"BEHALF_MASTER_KEY={base64.b64encode(secrets.token_bytes(32)).decode()}\n"
        )
        SECRETS_FILE.chmod(0o600)
    pairs = (line.split("=", 1) for line in SECRETS_FILE.read_text().splitlines() if "=" in line)
    values = dict(pairs)
    missing = {
        "BEHALF_CONSOLE_SECRET": lambda: secrets.token_urlsafe(48),
        **{name: lambda: f"svc_{secrets.token_urlsafe(32)}" for name in TOKENS.values()},
    }
    for name, make in missing.items():
        if name not in values:
            values[name] = make()
            with SECRETS_FILE.open("a") as file:
                file.write(f"{name}={values[name]}\n")
    values.pop("BEHALF_SERVICE_TOKEN", None)  # from before service identities
    return values


def _identity_env(name: str, tokens: dict[str, str]) -> dict[str, str]:
    """What one service gets of the identities: the registry the digests, a client its token."""
    if name == "registry":
        return {
            "BEHALF_INTERNAL_PORT": str(REGISTRY_INTERNAL_PORT),
            **{
                f"{variable}_DIGESTS": hashlib.sha256(tokens[variable].encode()).hexdigest()
                for variable in TOKENS.values()
            },
        }
    variable = TOKENS.get(name)
    return {variable: tokens[variable]} if variable else {}


def _pid_file(name: str) -> Path:
    return RUN / f"{name}.pid"


def _running(name: str) -> bool:
    try:
        pid = int(_pid_file(name).read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return False
    return True


def _start_service(name: str, env: dict[str, str], tokens: dict[str, str]) -> None:
    if _running(name):
        return
    LOGS.mkdir(parents=True, exist_ok=True)
    if name == "console":
        service_env = {
            **env,
            "BEHALF_CONSOLE_PORT": str(CONSOLE_PORT),
            # Sessions in the local PostgreSQL (schema `console`): they survive a restart.
            "BEHALF_CONSOLE_DATABASE_URL": env["BEHALF_DATABASE_URL"],
        }
    else:
        grpc_port, metrics_port = SERVICES[name]
        service_env = {
            **env,
            "BEHALF_GRPC_PORT": str(grpc_port),
            "BEHALF_METRICS_PORT": str(metrics_port),
            **_identity_env(name, tokens),
        }
        if name == "verifier":
            service_env["BEHALF_HTTP_PORT"] = str(VERIFIER_HTTP_PORT)
    with (LOGS / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", f"behalf.{name}"],
            env=service_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,
        )
    _pid_file(name).write_text(str(process.pid))


def _wait_serving(name: str, timeout: float = 90.0) -> None:
    target = f"127.0.0.1:{SERVICES[name][0]}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _running(name):
            sys.exit(f"{name} exited; see {LOGS / (name + '.log')}")
        try:
            with grpc.insecure_channel(target) as channel:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=1
                )
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.RpcError:
            pass
        time.sleep(0.2)
    sys.exit(f"{name} not SERVING after {timeout:g}s; see {LOGS / (name + '.log')}")


def _wait_console(timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _running("console"):
            sys.exit(f"console exited; see {LOGS / 'console.log'}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{CONSOLE_PORT}/", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"console not answering after {timeout:g}s; see {LOGS / 'console.log'}")


def _seed(operator_token: str) -> dict[str, str]:
    """A demo tenant with an agent allowed to buy on coachella.com up to 800.00 USD for 2 h."""
    demo: dict[str, str] = json.loads(DEMO_FILE.read_text()) if DEMO_FILE.exists() else {}
    with grpc.insecure_channel(f"127.0.0.1:{SERVICES['registry'][0]}") as channel:
        registry = registry_pb2_grpc.RegistryServiceStub(channel)
        if not demo:
            created = registry.CreateTenant(
                registry_pb2.CreateTenantRequest(name="demo", idempotency_key="devstack-demo"),
                metadata=[("authorization", f"Bearer {operator_token}")],
            )
            admin = [("authorization", f"Bearer {created.admin_key_secret}")]
            verify_key = registry.CreateApiKey(
                registry_pb2.CreateApiKeyRequest(
                    name="demo-verify", role=resources_pb2.ROLE_VERIFY
                ),
                metadata=admin,
            )
            agent = registry.CreateAgent(
                registry_pb2.CreateAgentRequest(
                    name="ticket-buyer",
                    kind=resources_pb2.AGENT_KIND_NATIVE,
                    description="Buys festival tickets for the team",
                ),
                metadata=admin,
            )
            demo = {
                "tenant_id": created.tenant.tenant_id,
                "admin_key": created.admin_key_secret,
                "verify_key": verify_key.secret,
                "agent_id": agent.agent.agent_id,
            }
        admin = [("authorization", f"Bearer {demo['admin_key']}")]
        registry.GrantPermission(
            registry_pb2.GrantPermissionRequest(
                agent_id=demo["agent_id"],
                template_name="transactions.purchase",
                resources=["coachella.com"],
                max_amount=common_pb2.Money(amount_minor=80000, currency="USD"),
                expires_in=duration_pb2.Duration(seconds=2 * 3600),
            ),
            metadata=admin,
        )
    DEMO_FILE.write_text(json.dumps(demo, indent=2))
    DEMO_FILE.chmod(0o600)
    return demo


def up() -> None:
    _say("starting PostgreSQL")
    database_url = _script("postgres.sh", "start")
    _say("starting Kafka (the first run downloads the broker's jars from Maven Central)")
    bootstrap = _script("kafka.sh", "start")
    values = _secrets()
    tokens = {name: values.pop(name) for name in TOKENS.values()}
    inherited = {k: v for k, v in os.environ.items() if not k.endswith(("_TOKEN", "_DIGESTS"))}
    env = {
        **inherited,
        **values,
        "BEHALF_DATABASE_URL": database_url,
        "BEHALF_KAFKA_BOOTSTRAP": bootstrap,
        "BEHALF_REGISTRY_TARGET": f"127.0.0.1:{SERVICES['registry'][0]}",
        "BEHALF_REGISTRY_INTERNAL_TARGET": f"127.0.0.1:{REGISTRY_INTERNAL_PORT}",
        "BEHALF_ALLOW_PRIVATE_WEBHOOK_URLS": "true",
        "BEHALF_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    }
    for name in SERVICES:
        _say(f"starting {name}")
        _start_service(name, env, tokens)
        _wait_serving(name)
    _say("starting console")
    _start_service("console", env, tokens)
    _wait_console()
    _say("seeding the demo tenant")
    demo = _seed(tokens["BEHALF_OPERATOR_TOKEN"])
    grpcurl = REPO / ".bin" / "grpcurl"
    print(
        f"""
Behalf is running.
  PostgreSQL  {database_url}
  Kafka       {bootstrap}
  registry    127.0.0.1:{SERVICES["registry"][0]}   metrics http://127.0.0.1:{SERVICES["registry"][1]}/metrics
  internal    127.0.0.1:{REGISTRY_INTERNAL_PORT}   registry internal API (verifier, dispatcher)
  verifier    127.0.0.1:{SERVICES["verifier"][0]}   metrics http://127.0.0.1:{SERVICES["verifier"][1]}/metrics
              http://127.0.0.1:{VERIFIER_HTTP_PORT}/v1/verify   HTTP/JSON (schema: /openapi.json)
  dispatcher  127.0.0.1:{SERVICES["dispatcher"][0]}   metrics http://127.0.0.1:{SERVICES["dispatcher"][1]}/metrics
  console     http://127.0.0.1:{CONSOLE_PORT}/  (sign in with the admin key below)
  logs        {LOGS}/
  demo keys   {DEMO_FILE} (admin and verify keys of tenant {demo["tenant_id"]})
  operator    BEHALF_OPERATOR_TOKEN in {SECRETS_FILE} (behalf tenants create --service-token)

Try it: may agent {demo["agent_id"]} buy a 799.99 USD ticket on coachella.com?

  {grpcurl} -plaintext -H 'authorization: Bearer {demo["verify_key"]}' \\
    -d '{{"agent_id": "{demo["agent_id"]}", "action": "purchase", "resource": "coachella.com",
         "amount": {{"amount_minor": 79999, "currency": "USD"}}}}' \\
    127.0.0.1:{SERVICES["verifier"][0]} behalf.v1.VerifierService/Verify

or over HTTP/JSON:

  curl -s http://127.0.0.1:{VERIFIER_HTTP_PORT}/v1/verify \\
    -H 'authorization: Bearer {demo["verify_key"]}' -H 'content-type: application/json' \\
    -d '{{"agentId": "{demo["agent_id"]}", "action": "purchase", "vendor": "coachella.com",
         "amount": 799.99, "currency": "USD"}}'

Stop everything with: make stop
""",
        flush=True,
    )


def down() -> None:
    for name in ["console", *reversed(list(SERVICES))]:
        if _running(name):
            _say(f"stopping {name}")
            pid = int(_pid_file(name).read_text())
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 20
            while _running(name) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _running(name):
                os.kill(pid, signal.SIGKILL)
        _pid_file(name).unlink(missing_ok=True)
    _say("stopping Kafka")
    _script("kafka.sh", "stop")
    _say("stopping PostgreSQL")
    _script("postgres.sh", "stop")


if __name__ == "__main__":
    commands = {"up": up, "down": down}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]]()
