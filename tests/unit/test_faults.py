"""Fault points: a dev process kills itself where MERCATO_FAULTS says; stg and prod refuse."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from mercato.platform import faults
from mercato.platform.settings import InsecureSettingsError, ServiceSettings

STRONG = "a-real-secret-of-enough-length"

CRASHING_SCRIPT = textwrap.dedent(
    """
    import asyncio
    from mercato.platform import faults
    from mercato.platform.settings import ServiceSettings

    async def main():
        settings = ServiceSettings.for_service("gateway")
        faults.arm(faults.parse(settings.faults))
        await faults.point("test.harmless")
        print("before", flush=True)
        await faults.point("test.crash_here")
        print("after", flush=True)

    asyncio.run(main())
    """
)


@pytest.fixture(autouse=True)
def disarmed():
    yield
    faults.arm(())


def run_script(faults_value: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MERCATO_")}
    if faults_value is not None:
        env["MERCATO_FAULTS"] = faults_value
    return subprocess.run(
        [sys.executable, "-c", CRASHING_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_an_armed_point_kills_the_process_with_sigkill():
    done = run_script("test.other, test.crash_here")
    assert done.returncode == -signal.SIGKILL
    assert done.stdout.split() == ["before"]


def test_without_armed_points_the_process_runs_through():
    done = run_script(None)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["before", "after"]


async def test_an_unarmed_point_does_nothing():
    faults.arm(faults.parse("some.other.point"))
    await faults.point("not.armed")
    assert faults.armed() == {"some.other.point"}


def test_points_are_parsed_from_a_comma_separated_list():
    assert faults.parse(" a.b ,c.d,, ") == {"a.b", "c.d"}
    assert faults.parse("") == frozenset()


@pytest.mark.parametrize("profile", ["stg", "prod"])
def test_deployed_profiles_refuse_fault_points(profile):
    with pytest.raises(InsecureSettingsError, match="MERCATO_FAULTS"):
        ServiceSettings.for_service(
            "gateway", env=profile, faults="order.after_reserve", client_secret=STRONG
        )


def test_dev_accepts_fault_points():
    settings = ServiceSettings.for_service("gateway", faults="order.after_reserve")
    assert faults.parse(settings.faults) == {"order.after_reserve"}
