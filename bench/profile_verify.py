"""Where Verify's time goes: py-spy samples the verifier while ghz drives it at full speed.

    python bench/profile_verify.py [--seconds 10] [--top 15]

Starts the same stack as bench/verify_bench.py, runs ghz against the verifier, and records the
verifier process with `py-spy record --nonblocking --format raw` (collapsed stacks) meanwhile.
Summarises the samples by the layer that was on CPU and lists the hottest functions. Needs
py-spy (`pip install py-spy`) and permission to read the process (root here). Writes the
`profile` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from _common import ghz, machine, running_stack, seed, settle, stamp, table, write_section

# First match wins, tested against the whole stack from the innermost frame outwards.
LAYERS = [
    ("Kafka audit publish (aiokafka producer)", ("aiokafka",)),
    ("decision engine and snapshot", ("verifier/engine.py", "verifier/snapshot.py", "risk.py")),
    ("request validation", ("verifier/validation.py",)),
    ("API key auth", ("common/auth.py", "verifier/credentials.py")),
    ("protobuf conversion in the API layer", ("verifier/api.py",)),
    ("interceptors (logging, metrics)", ("interceptors.py", "structlog", "prometheus_client")),
    ("grpc.aio server machinery", ("grpc/aio", "grpc/_cython", "cygrpc")),
    ("asyncio event loop and native callbacks (gRPC C-core, sockets)", ("asyncio/",)),
    ("background threads (gRPC completion-queue poller)", ("threading.py",)),
]


def layer_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, needles in LAYERS:
            if any(needle in frame for needle in needles):
                return name
    return "other"


def summarize(raw: Path, top: int) -> tuple[list[list[str]], list[list[str]], int]:
    layers: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        layers[layer_of(frames)] += n
        leaves[frames[-1]] += n
    layer_rows = [[name, f"{n / total:.0%}"] for name, n in layers.most_common()]
    leaf_rows = [[f"`{name}`", f"{n / total:.1%}"] for name, n in leaves.most_common(top)]
    return layer_rows, leaf_rows, total


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--top", type=int, default=15)
    options = parser.parse_args()
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        sys.exit("py-spy missing: pip install py-spy")
    started = machine()
    raw = Path(tempfile.mkdtemp()) / "verify.txt"
    async with running_stack() as stack:
        seeded = seed(stack)
        settle()
        target = stack.verifiers[0].target
        key, data = seeded.tenant.verify_key, seeded.verify_json()
        ghz(target, "warm-up", data, key, duration=3, concurrency=10)
        result: dict = {}
        load = threading.Thread(
            target=lambda: result.update(
                run=ghz(target, "load", data, key, duration=options.seconds + 3, concurrency=50)
            )
        )
        load.start()
        await asyncio.sleep(1.5)
        subprocess.run(
            [
                spy,
                "record",
                "--pid",
                str(stack.verifiers[0].process.pid),
                "--duration",
                str(options.seconds),
                "--rate",
                "200",
                "--nonblocking",
                "--format",
                "raw",
                "--output",
                str(raw),
            ],
            check=True,
            capture_output=True,
        )
        load.join()
    layer_rows, leaf_rows, total = summarize(raw, options.top)
    run = result["run"]
    write_section(
        "profile",
        f"""
## Where Verify's time goes (py-spy)

Run {stamp()}. Machine: {started}.

py-spy (`record --nonblocking --rate 200`, {options.seconds} s, {total:,} samples of the
verifier's threads while on CPU) during a ghz run at full speed (50 concurrent, audit on:
{run.rps:,.0f} calls/s, p50 {run.p50_ms:.1f} ms, p99 {run.p99_ms:.1f} ms). Each sample is
charged to the innermost frame that belongs to a known layer.

{table(["layer", "share of samples"], layer_rows)}

Hottest functions by own time:

{table(["function (file:line)", "own samples"], leaf_rows)}
""",
    )


if __name__ == "__main__":
    asyncio.run(main())
