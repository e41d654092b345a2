"""Which S3 client should the chassis keep? Ours (hand-written SigV4) vs aiobotocore (ADR 0024).

Each round starts one fresh Python process per client, interleaved, so that import time
and memory are those of a cold service. In each, after the imports every service has
anyway (aiohttp, FastAPI, pydantic, the chassis's errors), the script measures: the
client's import time and the time to build it, the RSS they add, the CPU time
(``time.process_time``) per presigned GET URL, and the client-side CPU time per PUT of
a 1 KiB object to a local SeaweedFS (started with the runner's launcher). The table
quotes medians over the rounds.

Run (needs the bench extra: pip install -e '.[bench]'):

    .venv/bin/python bench/s3_clients.py --rounds 5 --presigns 2000 --puts 200 --json
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
from typing import Any

from _common import (
    PYTHON,
    BenchError,
    Processes,
    interleaved,
    machine_state,
    main_guard,
    print_table,
    progress,
    write_results,
)
from mercato.runner.engines import EngineError, EnginePorts, SeaweedS3, engines_for

VARIANTS = ("mercato", "aiobotocore")
PAYLOAD = b"x" * 1024

# Runs in a fresh interpreter: argv = variant endpoint access_key secret_key presigns puts.
CHILD = r"""
import asyncio, json, sys, time
import aiohttp, fastapi, pydantic, psutil  # what every service has loaded already
import mercato.platform.errors  # the chassis module s3.py builds on

variant, endpoint, access_key, secret_key = sys.argv[1:5]
presigns, puts = int(sys.argv[5]), int(sys.argv[6])
process = psutil.Process()
MIB = 1024 * 1024


async def main():
    rss_before = process.memory_info().rss
    started = time.perf_counter()
    if variant == "mercato":
        from mercato.platform.s3 import Credentials, ObjectStore
    else:
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session
    imported = time.perf_counter()
    if variant == "mercato":
        store = ObjectStore(endpoint=endpoint, credentials=Credentials(access_key, secret_key))
        presign = lambda key: store.presign_download(bucket, key)

        async def put(key):
            await store.put(bucket, key, PAYLOAD, "application/octet-stream")

        async def create_bucket():
            await store.ensure_bucket(bucket)

        async def close():
            await store.close()
    else:
        context = get_session().create_client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=AioConfig(s3={"addressing_style": "path"}),
        )
        client = await context.__aenter__()

        async def presign_async(key):
            return await client.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600
            )

        async def put(key):
            await client.put_object(
                Bucket=bucket, Key=key, Body=PAYLOAD, ContentType="application/octet-stream"
            )

        async def create_bucket():
            try:
                await client.create_bucket(Bucket=bucket)
            except client.exceptions.BucketAlreadyOwnedByYou:
                pass

        async def close():
            await context.__aexit__(None, None, None)

    built = time.perf_counter()
    rss_built = process.memory_info().rss

    cpu = time.process_time()
    for i in range(presigns):
        if variant == "mercato":
            presign(f"k{i}")
        else:
            await presign_async(f"k{i}")
    presign_us = (time.process_time() - cpu) / presigns * 1e6

    await create_bucket()
    for i in range(20):  # warm: connections, caches
        await put(f"warm{i}")
    cpu = time.process_time()
    for i in range(puts):
        await put(f"o{i}")
    put_us = (time.process_time() - cpu) / puts * 1e6
    rss_after = process.memory_info().rss
    await close()
    print(json.dumps({
        "import_ms": (imported - started) * 1e3,
        "build_ms": (built - imported) * 1e3,
        "rss_added_mib": (rss_built - rss_before) / MIB,
        "rss_after_puts_added_mib": (rss_after - rss_before) / MIB,
        "presign_us": presign_us,
        "put_us": put_us,
    }))


PAYLOAD = b"x" * 1024
bucket = "bench-" + variant
asyncio.run(main())
"""


def run_child(variant: str, engine: SeaweedS3, presigns: int, puts: int) -> dict[str, float]:
    """One cold process of ``variant``: its figures."""
    done = subprocess.run(
        [
            PYTHON,
            "-c",
            CHILD,
            variant,
            engine.url,
            engine.access_key,
            engine.secret_key,
            str(presigns),
            str(puts),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        raise BenchError(f"{variant} failed:\n{done.stderr[-2000:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> int:
    """Runs the comparison and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--presigns", type=int, default=2000)
    parser.add_argument("--puts", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="also write bench/results/*.json")
    args = parser.parse_args()
    try:
        import aiobotocore  # noqa: F401
    except ImportError:
        raise BenchError("aiobotocore is missing: pip install -e '.[bench]'") from None

    results: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    with Processes(prefix="mercato-bench-s3-") as processes:
        engine_secrets = {
            "postgres_password": "unused",
            "s3_access_key": "bench" + secrets.token_hex(6),
            "s3_secret_key": secrets.token_urlsafe(24),
        }
        engine = engines_for(processes.workdir, EnginePorts.free(), engine_secrets)["s3"]
        assert isinstance(engine, SeaweedS3)
        log_path = processes.workdir / "logs" / "s3.log"
        process = engine.start(log_path)
        try:
            progress("waiting for SeaweedFS")
            try:
                engine.wait_ready(process)
            except EngineError as exc:
                raise BenchError(str(exc)) from None
            for round_, variant in interleaved(VARIANTS, args.rounds):
                progress(f"round {round_}: {variant}")
                results[variant].append(run_child(variant, engine, args.presigns, args.puts))
        finally:
            engine.stop(process)

    def median(variant: str, key: str) -> float:
        return statistics.median(r[key] for r in results[variant])

    keys = ("import_ms", "build_ms", "rss_added_mib", "presign_us", "put_us")
    rows: list[list[Any]] = [[v, *(median(v, k) for k in keys)] for v in VARIANTS]
    rows.append(
        ["ratio", *(median("aiobotocore", k) / max(median("mercato", k), 1e-9) for k in keys)]
    )
    print_table(
        [
            "client",
            "import ms",
            "build ms",
            "RSS added MiB",
            "CPU µs / presign",
            "CPU µs / PUT",
        ],
        rows,
    )
    if args.json:
        path = write_results(
            "s3_clients", {"machine": machine_state(), "args": vars(args), "results": results}
        )
        progress(f"results in {path}")
    return 0


if __name__ == "__main__":
    main_guard(main)
