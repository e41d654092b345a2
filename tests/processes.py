"""Services as real processes (``python -m mercato.platform.server <name>``) for crash tests.

A process gets the environment the runner would give it, built from the same settings
the harness uses in-process, so it can be SIGKILLed and started again on the same
database, stream and ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import SecretStr

from mercato.platform.settings import ServiceSettings


def settings_environment(settings: ServiceSettings) -> dict[str, str]:
    """The ``MERCATO_*`` variables that reproduce ``settings`` in another process."""
    env = {"MERCATO_SERVICE": settings.service}
    for name in settings.model_fields_set:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, dict | list | tuple):
            value = json.dumps(value)
        env[f"MERCATO_{name.upper()}"] = str(value)
    return env


@dataclass
class ServiceProcess:
    """One service process started by a test."""

    name: str
    settings: ServiceSettings
    process: asyncio.subprocess.Process
    log_path: Path
    client: httpx.AsyncClient

    @property
    def url(self) -> str:
        """Where the service listens."""
        return f"http://127.0.0.1:{self.settings.port}"

    def log(self) -> str:
        """Everything the process wrote so far."""
        return self.log_path.read_text(errors="replace")

    async def wait_healthy(self, timeout: float = 60.0) -> None:
        """Waits until /health answers; raises with the log if the process died first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.process.returncode is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.log()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if (await self.client.get("/health")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.name} did not become healthy:\n{self.log()}")

    async def wait_exit(self, timeout: float = 60.0) -> int:
        """Waits for the process to end (a fault point kills it); its return code."""
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def kill(self) -> None:
        """SIGKILL: no cleanup, as if the machine had lost power."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
        await self.wait_exit()

    async def stop(self) -> None:
        """SIGTERM and wait (SIGKILL after 20 s)."""
        await self.client.aclose()
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await self.wait_exit(20)
            except TimeoutError:
                await self.kill()


async def start_process(
    name: str, settings: ServiceSettings, *, faults: str = "", log_dir: Path | None = None
) -> ServiceProcess:
    """Starts service ``name`` with ``settings`` (and armed fault points) and waits for it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MERCATO_")}
    env.update(settings_environment(settings))
    if faults:
        env["MERCATO_FAULTS"] = faults
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix=f"mercato-{name}-"))
    log_path = log_dir / f"{name}-{settings.port}.log"
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mercato.platform.server",
            name,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = ServiceProcess(
        name,
        settings,
        process,
        log_path,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.port}", timeout=30),
    )
    try:
        await running.wait_healthy()
    except BaseException:
        await running.kill()
        await running.client.aclose()
        raise
    return running
