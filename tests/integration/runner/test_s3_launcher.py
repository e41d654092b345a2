"""The runner's S3 engine (SeaweedFS): once it says ready after a restart, what it holds reads."""

from __future__ import annotations

from pathlib import Path

from mercato.platform.s3 import Credentials, ObjectStore
from mercato.runner.engines import SeaweedS3, free_port

ACCESS_KEY = "launchertest"
SECRET_KEY = "launcher-test-secret-key-0123456789"


def seaweed(data_dir: Path) -> SeaweedS3:
    """The engine as the runner builds it, on ports nothing else uses."""
    master_grpc, volume_grpc, filer_grpc, s3_grpc = (free_port() for _ in range(4))
    return SeaweedS3(
        data_dir,
        port=free_port(),
        master_port=free_port(),
        volume_port=free_port(),
        filer_port=free_port(),
        grpc_ports=(master_grpc, volume_grpc, filer_grpc, s3_grpc),
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
    )


async def test_an_object_written_before_a_restart_reads_the_moment_s3_is_ready(
    tmp_path: Path,
) -> None:
    engine = seaweed(tmp_path / "s3")
    log = tmp_path / "s3.log"
    objects = {f"avatars/{n}.png": b"\x89PNG" + bytes([n]) * 512 for n in range(3)}

    process = engine.start(log)
    try:
        engine.wait_ready(process)
        store = ObjectStore(endpoint=engine.url, credentials=Credentials(ACCESS_KEY, SECRET_KEY))
        try:
            await store.ensure_bucket("mercato-avatars")
            for key, data in objects.items():
                await store.put("mercato-avatars", key, data, "image/png")
        finally:
            await store.close()
    finally:
        engine.stop(process)

    # Restarted three times: the first read after "ready" is the one that failed with
    # "volume N not found" (500) while the master had not yet heard of the volumes.
    for _ in range(3):
        process = engine.start(log)
        try:
            engine.wait_ready(process)
            store = ObjectStore(
                endpoint=engine.url, credentials=Credentials(ACCESS_KEY, SECRET_KEY)
            )
            try:
                for key, data in objects.items():
                    assert await store.get("mercato-avatars", key) == data, log.read_text()[-2000:]
            finally:
                await store.close()
        finally:
            engine.stop(process)
