"""The benchmark's real peer: OPA's Rego engine in a Go Envoy ext_authz server (bench/opa_peer/).

    python bench/_opa_peer.py --selftest    build, start, send an allowed and a denied Check
    python bench/_opa_peer.py --measure [--duration 8] [--concurrency 50] [--rates 100]

`build()` compiles bench/opa_peer into .cache/bench/opa-peer when its sources changed (the
bench builds it, `make test` never does); `running_opa_peer()` starts it on a free port and
waits until it serves; `ghz_check()` drives `envoy.service.auth.v3.Authorization/Check` as
`_common.ghz()` drives Verify; `measure_opa_peer()` gives its peak and fixed-rate latencies.

The peer decides what the verifier decides for the benchmark's request: a known API key
(`authorization: Bearer …` on the Check call), an active agent of the key's tenant, a grant for
the action on the resource (context_extensions, then `x-behalf-*` headers, then the request
host), within its validity, and an amount in the grant's currency up to its limit; it answers
OK or PERMISSION_DENIED with 401, 400 or 403, as services/verifier/.../ext_authz.py does.
`check_json()` is a Check that both servers accept.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import grpc
from _common import GHZ, REPO, Run, ghz
from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc
from google.protobuf import json_format
from google.rpc import code_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

SOURCE = REPO / "bench" / "opa_peer"
BINARY = REPO / ".cache" / "bench" / "opa-peer"
GRPCURL = str(REPO / ".bin" / "grpcurl")
CHECK_CALL = "envoy.service.auth.v3.Authorization/Check"

# The benchmark's grant: this agent may purchase on coachella.com up to 800.00 USD.
BENCH_AGENT = "agt_opa_bench"
BENCH_KEY = "bk_opa_bench_key"


# --- the binary --------------------------------------------------------------------------------


def _sources_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(SOURCE.iterdir()):
        if path.is_file() and path.suffix in {".go", ".rego", ".mod", ".sum"}:
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def build() -> Path:
    """Build the peer into .cache/bench/ unless a binary of the same sources is already there."""
    stamp = BINARY.with_name(BINARY.name + ".sha256")
    digest = _sources_digest()
    if BINARY.exists() and stamp.exists() and stamp.read_text() == digest:
        return BINARY
    if shutil.which("go") is None:
        raise RuntimeError("the OPA peer needs Go: `go` is not on PATH")
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    subprocess.run(
        ["go", "build", "-mod=readonly", "-trimpath", "-o", str(BINARY), "."],
        cwd=SOURCE,
        check=True,
    )
    stamp.write_text(digest)
    return BINARY


# --- its policy data and a request -------------------------------------------------------------


def policy_data(
    agent_id: str = BENCH_AGENT, api_key: str = BENCH_KEY, *, valid_for_s: int = 3600
) -> dict:
    """The peer's data document: one key, and one agent allowed to purchase on coachella.com
    up to 800.00 USD (as `_common.seed` grants it in the registry)."""
    now_ns = time.time_ns()
    return {
        "keys": {hashlib.sha256(api_key.encode()).hexdigest(): "ten_bench"},
        "agents": {
            agent_id: {
                "tenant": "ten_bench",
                "status": "active",
                "grants": [
                    {
                        "permission_id": "perm_opa_bench",
                        "actions": ["purchase"],
                        "resources": ["coachella.com"],
                        "max_amount_minor": 80000,
                        "currency": "USD",
                        "not_before_ns": now_ns - 60 * 10**9,
                        "expires_at_ns": now_ns + valid_for_s * 10**9,
                    }
                ],
            }
        },
    }


def check_json(
    agent_id: str = BENCH_AGENT, *, amount_minor: int = 79999, currency: str = "USD"
) -> dict:
    """A Check for a purchase on coachella.com (an ALLOW up to 80000), as JSON; the verifier's
    ext_authz Check maps the same headers."""
    return {
        "attributes": {
            "request": {
                "http": {
                    "method": "POST",
                    "host": "coachella.com:443",
                    "path": "/checkout",
                    "headers": {
                        "x-behalf-agent-id": agent_id,
                        "x-behalf-action": "purchase",
                        "x-behalf-amount-minor": str(amount_minor),
                        "x-behalf-currency": currency,
                    },
                }
            }
        }
    }


# --- the running server ------------------------------------------------------------------------


@contextmanager
def running_opa_peer(
    data: dict | None = None, *, timeout: float = 30, cpus: int | None = None
) -> Iterator[str]:
    """Build and start the peer with this data document (the bench grant by default); yield
    its target once its health check says SERVING; stop it on exit. `cpus` sets GOMAXPROCS (Go
    reads the CPUs it may use once, at start: a peer pinned later needs it said)."""
    binary = build()
    with tempfile.TemporaryDirectory(prefix="opa-peer-") as tmp:
        data_path, log_path = Path(tmp) / "data.json", Path(tmp) / "peer.log"
        data_path.write_text(json.dumps(policy_data() if data is None else data))
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [str(binary), "-addr", "127.0.0.1:0", "-data", str(data_path)],
                env={**os.environ, **({"GOMAXPROCS": str(cpus)} if cpus else {})},
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        try:
            target = _wait_serving(proc, time.monotonic() + timeout, log_path)
            yield target
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def _wait_serving(proc: subprocess.Popen, deadline: float, log_path: Path) -> str:
    """The peer's `serving HOST:PORT` line, then a SERVING health check, or RuntimeError."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
    line = proc.stdout.readline() if ready else ""
    if not line.startswith("serving "):
        raise RuntimeError(f"OPA peer did not start: {log_path.read_text().strip()[-500:]}")
    target = line.split()[1]
    request, serving = health_pb2.HealthCheckRequest(), health_pb2.HealthCheckResponse.SERVING
    with grpc.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                if health.Check(request, timeout=1).status == serving:
                    return target
            except grpc.RpcError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"OPA peer not serving: {log_path.read_text().strip()[-500:]}")
            time.sleep(0.05)


# --- ghz ---------------------------------------------------------------------------------------


def ghz_check_args(data: dict, key: str) -> list[str]:
    """The ghz command line up to its load options: Check (by reflection) with this body."""
    return [
        GHZ,
        "--insecure",
        "--call",
        CHECK_CALL,
        "-d",
        json.dumps(data),
        "-m",
        json.dumps({"authorization": f"Bearer {key}"}),
    ]


def ghz_check(
    target: str,
    label: str,
    data: dict,
    key: str,
    *,
    duration: float,
    concurrency: int,
    connections: int = 4,
    rate: int = 0,
) -> Run:
    """Drive Check with ghz, counted as `_common.ghz` counts Verify (an OK answer with a
    PERMISSION_DENIED status inside is still a successful call: check the policy first)."""
    return ghz(
        target,
        label,
        call=ghz_check_args(data, key),
        duration=duration,
        concurrency=concurrency,
        connections=connections,
        rate=rate,
    )


def measure_opa_peer(
    rates: Sequence[int] = (100,),
    duration: float = 8,
    concurrency: int = 50,
    *,
    connections: int = 4,
    shares: Sequence[float] = (0.5,),
    rounds: int = 1,
) -> dict:
    """Start the peer with the bench grant; measure its peak (the median of `rounds` runs),
    then p50/p99 at each fixed rate and at each share of that peak.

    Returns {"target", "peak": Run, "rounds": [Run], "at": {rate: Run}}, rates as ints.
    """
    data, key = check_json(), BENCH_KEY
    kw = {"duration": duration, "concurrency": concurrency, "connections": connections}
    with running_opa_peer() as target:
        if not allows(target, data, key):
            raise RuntimeError("the OPA peer denies the benchmark's request")
        ghz_check(target, "warm-up", data, key, duration=2, concurrency=10)
        peaks = [ghz_check(target, "OPA peer, peak", data, key, **kw) for _ in range(rounds)]
        peak = sorted(peaks, key=lambda r: r.rps)[len(peaks) // 2]
        fixed = [*rates, *(int(peak.rps * share) for share in shares)]
        at = {
            rate: ghz_check(target, f"OPA peer at {rate} req/s", data, key, rate=rate, **kw)
            for rate in dict.fromkeys(fixed)
        }
    return {"target": target, "peak": peak, "rounds": peaks, "at": at}


def allows(target: str, data: dict, key: str) -> bool:
    """Whether one Check with this body and key is answered OK (a Python client, no grpcurl)."""
    request = json_format.ParseDict(data, external_auth_pb2.CheckRequest())
    with grpc.insecure_channel(target) as channel:
        answer = external_auth_pb2_grpc.AuthorizationStub(channel).Check(
            request, metadata=[("authorization", f"Bearer {key}")], timeout=5
        )
    return answer.status.code == code_pb2.OK


# --- by hand -----------------------------------------------------------------------------------


def _check(target: str, data: dict, key: str) -> dict:
    """One Check with grpcurl, over the server's reflection; its JSON answer."""
    answer = subprocess.run(
        [
            GRPCURL,
            "-plaintext",
            "-H",
            f"authorization: Bearer {key}",
            "-d",
            json.dumps(data),
            *(target, CHECK_CALL),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(answer.stdout)


def _selftest() -> int:
    if not Path(GRPCURL).exists():
        sys.exit(f"{GRPCURL} missing: run `make tools`")
    started = time.monotonic()
    build()
    print(f"built {BINARY.relative_to(REPO)} ({time.monotonic() - started:.1f} s)")
    with running_opa_peer() as target:
        allowed = _check(target, check_json(amount_minor=79999), BENCH_KEY)
        denied = _check(target, check_json(amount_minor=80001), BENCH_KEY)
    print(f"allowed (799.99 USD) -> {json.dumps(allowed)}")
    print(f"denied (800.01 USD) -> {json.dumps(denied)}")
    good = allowed["status"].get("code", 0) == 0 and denied["status"].get("code") == 7
    print("selftest " + ("passed" if good else "FAILED"))
    return 0 if good else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--selftest", action="store_true")
    parser.add_argument("--measure", action="store_true")
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rates", type=int, nargs="*", default=[100])
    options = parser.parse_args()
    if options.selftest:
        return _selftest()
    if options.measure:
        if not Path(GHZ).exists():
            sys.exit(f"{GHZ} missing: run `make tools`")
        result = measure_opa_peer(
            options.rates, options.duration, options.concurrency, rounds=options.rounds
        )
        for run in [*result["rounds"], *result["at"].values()]:
            print(
                f"{run.label}: {run.rps:,.0f} calls/s, p50 {run.p50_ms:.2f} ms, "
                f"p99 {run.p99_ms:.2f} ms, errors {run.errors}/{run.total}"
            )
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
